"""CP-SAT on the pods model: the whole model when it is small, LNS on sub-clusters when it is not.

Small models (a few thousand class-node pairs) are solved whole, which proves optima. Larger
ones start from the best plan known and improve it by large-neighbourhood search, each step an
exact CP-SAT solve of a few nodes; when the whole model is still buildable, it then gets the rest
of the budget, warm-started from the LNS plan, to prove a bound (and perhaps improve further).
"""

from __future__ import annotations

import dataclasses

from solver.engine import objective as lex
from solver.engine.errors import DeadlineExceeded
from solver.engine.family import ExactContext, ExactOutcome
from solver.pods.cluster import Arrays, ClusterState, state_from
from solver.pods.exact import solve_model
from solver.pods.formulation import aggregate
from solver.pods.lns import dot_product_greedy, improve
from solver.pods.plans import evaluate, from_plan, senses, to_plan

SMALL_PAIRS = 600  # solved whole from the start whatever the budget
LNS_SHARE = 0.5  # of the budget when a whole-model pass follows: LNS finds plans, the whole model proves
# Building and presolving the whole model costs about this much per (class, node) pair on one core
# (measured: 64 nodes x 512 pods, 13.9k pairs, first solution after 0.75 s). A whole-model pass
# that cannot get past presolve in the time it would have is wasted, so it is planned from this.
FULL_S_PER_PAIR = 60e-6


def solve(arr: Arrays, ctx: ExactContext) -> ExactOutcome:
    agg = aggregate(arr)  # pods that may neither stay nor leave were refused by infeasibility()
    pairs = agg.pairs()
    if pairs <= SMALL_PAIRS:
        return solve_model(agg, "cpsat", ctx, "cpsat-full")
    start = _best_start(arr, ctx)
    # with one worker, plan from the nominal budget (the request's, free of clock jitter) so that runs
    # repeat exactly; otherwise from the time actually left
    budget = ctx.nominal_s if ctx.workers == 1 else ctx.deadline.remaining() - ctx.reserve_s
    full_cost = FULL_S_PER_PAIR * pairs
    whole_pass = full_cost * 2 <= budget * (1 - LNS_SHARE)
    lns_s = budget * LNS_SHARE if whole_pass else budget
    st, stats = improve(arr, start, ctx, lns_s, ctx.bound)
    plan = to_plan(arr, st.node_of, st.gpus_of)
    note = stats.note()
    lns_out = ExactOutcome(plan, "LNS", "cpsat-lns", notes=[note])
    if not whole_pass or stats.reason == "meets the bound":
        return lns_out
    rest = dataclasses.replace(ctx, hint=plan, nominal_s=budget - lns_s)
    try:
        full = solve_model(agg, "cpsat", rest, "cpsat-lns+full")
    except DeadlineExceeded:  # cancelled or out of time while building: the LNS plan stands
        return lns_out
    full.notes.append(note)
    if full.plan is None:
        lns_out.bound, lns_out.build_s, lns_out.solve_s = full.bound, full.build_s, full.solve_s
        return lns_out
    s = senses(arr.inst)
    if lex.better(evaluate(arr, from_plan(arr, plan)[0]), evaluate(arr, from_plan(arr, full.plan)[0]), s):
        full.plan, full.proven_optimal = plan, False  # CP-SAT came back below its hint: keep the LNS plan
    return full


def _best_start(arr: Arrays, ctx: ExactContext) -> ClusterState:
    # the greedy costs ~5 us per pod and node pair considered; skip it when the budget is that tight
    tight = ctx.deadline.remaining() - ctx.reserve_s < 2e-5 * (arr.n_pods + arr.n_nodes)
    candidates = [] if tight and ctx.hint is not None else [dot_product_greedy(arr)]
    if ctx.hint is not None:
        candidates.append(state_from(arr, *from_plan(arr, ctx.hint)))
    s = senses(arr.inst)
    best = candidates[0]  # never empty: the greedy runs whenever there is no hint
    for st in candidates[1:]:
        if lex.no_worse(evaluate(arr, st.node_of), evaluate(arr, best.node_of), s):
            best = st
    return best
