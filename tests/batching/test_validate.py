"""Bad input is an InvalidInstance naming the JSON path of the field (under `instance`) and the reason."""

from __future__ import annotations

from typing import Any

import pytest

import solver
from solver.engine.errors import InvalidInstance
from tests.batching.conftest import request, small

CASES: dict[str, tuple[Any, tuple, str]] = {
    # case: (edit of the small instance, expected loc under `instance`, expected words)
    "duplicate id": (
        lambda i: i["waiting"][1].update(id="r0"),
        ("waiting", 1, "id"),
        "duplicate request id (also running[0])",
    ),
    "finished request": (
        lambda i: i["running"][0].update(generated_tokens=100),
        ("running", 0, "generated_tokens"),
        "must be below max_new_tokens",
    ),
    "prediction above the cap": (
        lambda i: i["waiting"][0].update(predicted_output_tokens=51),
        ("waiting", 0, "predicted_output_tokens"),
        "above max_new_tokens (50)",
    ),
    "prefix tokens without an id": (
        lambda i: i["waiting"][0].update(prefix_tokens=10),
        ("waiting", 0, "prefix_tokens"),
        "needs a prefix_id",
    ),
    "prefix of two lengths": (
        lambda i: i["waiting"][1].update(prefix_tokens=40),
        ("waiting", 1, "prefix_tokens"),
        "prefix 'sys' has 50 tokens at running[0]",
    ),
    "holder without its prefix": (
        lambda i: i["running"][0].update(kv_tokens=30),
        ("running", 0, "kv_tokens"),
        "holds at least its 50 tokens",
    ),
    "prefix as long as the prompt": (
        lambda i: i["waiting"][1].update(prompt_tokens=50),
        ("waiting", 1, "prefix_tokens"),
        "shorter than the prompt (50 tokens)",
    ),
    "capacity below a block": (
        lambda i: i.update(kv_capacity_tokens=5),
        ("kv_capacity_tokens",),
        "smaller than one block (10 tokens)",
    ),
    "typo": (
        lambda i: i["running"][1].update(kv_token=3),
        ("running", 1, "kv_token"),
        "Extra inputs are not permitted",
    ),
    "negative tokens": (
        lambda i: i["running"][1].update(kv_tokens=-1),
        ("running", 1, "kv_tokens"),
        "greater than or equal to 0",
    ),
    "share above one": (
        lambda i: i["policy"].update(guard_share=1.5),
        ("policy", "guard_share"),
        "less than or equal to 1",
    ),
    "no scenarios": (
        lambda i: i["policy"].update(scenarios=0),
        ("policy", "scenarios"),
        "greater than or equal to 1",
    ),
    "priority out of range": (
        lambda i: i["waiting"][2].update(priority=101),
        ("waiting", 2, "priority"),
        "less than or equal to 100",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_names_the_field(case):
    edit, loc, words = CASES[case]
    inst = small()
    edit(inst)
    with pytest.raises(InvalidInstance) as exc:
        solver.solve(request(inst))
    errors = exc.value.errors
    assert any(e.loc == ("instance", *loc) and words in e.msg for e in errors), [
        (e.loc, e.msg) for e in errors
    ]


def test_many_errors_are_capped_and_all_named():
    inst = small()
    inst["waiting"] = [{"id": "x", "prompt_tokens": 5, "max_new_tokens": 1, "generated_tokens": 1}] * 80
    with pytest.raises(InvalidInstance) as exc:
        solver.validate("batching", inst)
    assert 1 < len(exc.value.errors) <= 50
    assert all(e.loc[0] == "instance" and e.loc[1] == "waiting" for e in exc.value.errors)
