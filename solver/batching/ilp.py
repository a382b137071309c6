"""The multi-checkpoint knapsack (formulation.py) in PuLP, solved by HiGHS in-process (or CBC)."""

from __future__ import annotations

from solver.batching import exact
from solver.batching.problem import Problem
from solver.engine.family import ExactContext, ExactOutcome


def solve(p: Problem, ctx: ExactContext) -> ExactOutcome:
    return exact.solve("ilp", p, ctx)
