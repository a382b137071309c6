"""Shared helpers of the parallelism tests: solve within the budget, check every plan, compare baselines."""

from __future__ import annotations

import time
from typing import Any

import solver
from solver.engine import objective as lex
from solver.parallelism.generate import request

OVERHEAD_S = 0.05

__all__ = ["request", "solved"]


def solved(req: dict[str, Any], **expect: Any) -> Any:
    t0 = time.monotonic()
    r = solver.solve(req, started=t0)
    wall = time.monotonic() - t0
    limit = req["options"]["time_limit_s"]
    assert r.stats.total_s <= limit + OVERHEAD_S and wall <= limit + OVERHEAD_S, (r.stats.total_s, wall)
    assert not [w for w in r.warnings if "defect" in w], r.warnings
    if r.plan is not None:
        report = solver.check("parallelism", req["instance"], r.plan)
        assert report.ok, report.violations
        assert report.objective == r.objective
        for b in r.baselines:
            if b.feasible:
                assert lex.no_worse(r.objective, b.objective, r.objective_sense)
    for key, value in expect.items():
        assert getattr(r, key) == value, (key, getattr(r, key))
    return r
