"""The pods model in PuLP, solved by HiGHS in-process or CBC; declines models too large to build in time."""

from __future__ import annotations

from solver.engine.errors import EngineDeclined
from solver.engine.family import ExactContext, ExactOutcome
from solver.pods.cluster import Arrays
from solver.pods.exact import solve_model
from solver.pods.formulation import aggregate

MAX_PAIRS = 60_000  # (class, node) pairs: beyond this PuLP's model building alone overruns typical budgets


def solve(arr: Arrays, ctx: ExactContext) -> ExactOutcome:
    agg = aggregate(arr)  # pods that may neither stay nor leave were refused by infeasibility()
    pairs = agg.pairs()
    if pairs > MAX_PAIRS:
        raise EngineDeclined(
            f"the pods model has {pairs} (class, node) pairs, above the ILP engine's limit of "
            f"{MAX_PAIRS}; use engine cpsat"
        )
    return solve_model(agg, "ilp", ctx, f"ilp-{ctx.options.ilp_solver}")
