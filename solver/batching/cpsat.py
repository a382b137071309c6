"""CP-SAT on the multi-checkpoint knapsack (formulation.py), warm-started from the guarded greedy."""

from __future__ import annotations

from solver.batching import exact
from solver.batching.problem import Problem
from solver.engine.family import ExactContext, ExactOutcome


def solve(p: Problem, ctx: ExactContext) -> ExactOutcome:
    return exact.solve("cpsat", p, ctx)
