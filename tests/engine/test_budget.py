import time

import pytest

from solver.engine.budget import Deadline
from solver.engine.errors import DeadlineExceeded, FieldError, InvalidInstance


def test_deadline_counts_down_from_its_start():
    d = Deadline(0.2, started=time.monotonic() - 0.15)
    assert 0.0 < d.remaining() <= 0.05
    assert not d.expired()
    time.sleep(0.06)
    assert d.expired() and d.remaining() == 0.0
    with pytest.raises(DeadlineExceeded, match="model building"):
        d.check("model building")


def test_sub_deadline_never_outlives_its_parent():
    d = Deadline(0.05)
    assert d.sub(10.0).time_limit_s <= 0.05
    assert d.sub(0.01).time_limit_s == pytest.approx(0.01)


def test_field_errors_render_json_paths():
    err = InvalidInstance([FieldError(("instance", "pods", 3, "node"), "unknown node", "n9")])
    assert str(err) == "instance.pods[3].node: unknown node"


def test_cancel_reaches_sub_deadlines_and_hooks():
    from solver.engine.budget import CancelToken

    token = CancelToken()
    d = Deadline(10.0, token=token)
    child = d.sub(5.0)
    stopped = []
    with token.hook(lambda: stopped.append(True)):
        token.cancel()
    assert stopped == [True]
    assert d.expired() and child.expired() and child.remaining() == 0.0
    with pytest.raises(DeadlineExceeded, match="cancelled"):
        child.check()
