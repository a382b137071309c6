"""Shared data of the batching tests: the OpenAPI example's step, its numbers worked out in the tests."""

from __future__ import annotations

import copy
from typing import Any

from models.batching import BatchingInstance
from service.api.examples import BATCHING_EXAMPLE


def request(inst: BatchingInstance | dict, **options: Any) -> dict[str, Any]:
    body = inst.model_dump() if isinstance(inst, BatchingInstance) else inst
    return {"kind": "batching", "instance": body, "options": {"time_limit_s": 2.0, "workers": 1, **options}}


def small() -> dict[str, Any]:
    """A fresh copy of the example's instance (service/api/examples.py, instances/batching/example.json).

    Capacity 700 tokens (70 blocks of 10); two running requests (r1 still in prefill, r0 holding the
    shared prefix `sys`), four waiting; point predictions, so one scenario and numbers worked by hand:
    the running requests alone peak at 418 tokens (step 20); w0 (first in line) would take the peak to
    747 > 700, so the guard keeps it waiting; w1 (reusing `sys`), w2 and w3 fit (peak 625)."""
    return copy.deepcopy(BATCHING_EXAMPLE["instance"])
