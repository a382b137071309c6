"""Build the pods model on a backend, warm-start it from the hint, solve it tier by tier, decode."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from models.common import Explanation
from solver.engine.cpsat import CpSatBackend
from solver.engine.family import ExactContext, ExactOutcome, lexicographic_outcome
from solver.engine.ilp import PulpBackend, overrun_allowance
from solver.engine.lexicographic import solve_lexicographic
from solver.engine.modeling import CpSatBuilder, PulpBuilder
from solver.pods.cluster import Arrays
from solver.pods.decode import decode, fill, hint
from solver.pods.formulation import Aggregate, build
from solver.pods.plans import from_plan, to_plan


def stuck_pods(arr: Arrays) -> list[Explanation]:
    """Running pods that a NoExecute taint expels but that may not leave: no plan exists."""
    conflicts = []
    for j in np.flatnonzero((arr.origin >= 0) & ~arr.stay_ok & ~arr.movable).tolist():
        pod = arr.inst.pods[j]
        why = "it is protected" if pod.protected else "the policy allows neither eviction nor moves"
        conflicts.append(
            Explanation(
                item=pod.name,
                constraint="taints",
                message=f"pod {pod.name} must leave node {pod.node} (a NoExecute taint it does not tolerate) "
                f"but {why}",
            )
        )
    return conflicts


def policy_conflicts(agg: Aggregate) -> list[Explanation]:
    """Why no plan exists when the model is infeasible: running pods that a NoExecute taint expels,
    against an eviction and move policy that cannot absorb them all."""
    arr = agg.arr
    policy = arr.inst.policy
    limits = (
        f"allow_eviction={policy.allow_eviction}, max_evictions={policy.max_evictions}, "
        f"max_moves={policy.max_moves}"
    )
    out = []
    for j in np.flatnonzero((arr.origin >= 0) & ~arr.stay_ok):
        pod = arr.inst.pods[j]
        out.append(
            Explanation(
                item=pod.name,
                constraint="policy",
                message=f"pod {pod.name} must leave node {pod.node} (a NoExecute taint it does not "
                f"tolerate); with {limits} it can be neither evicted nor moved within the policy",
                data={
                    "node": pod.node,
                    "allow_eviction": policy.allow_eviction,
                    "max_evictions": policy.max_evictions,
                    "max_moves": policy.max_moves,
                },
            )
        )
    if not out:
        out.append(
            Explanation(
                item="policy", constraint="policy", message=f"no plan satisfies the policy ({limits})"
            )
        )
    return out


def solve_model(agg: Aggregate, engine: str, ctx: ExactContext, method: str) -> ExactOutcome:
    arr = agg.arr
    t0 = time.perf_counter()
    backend: Any
    if engine == "cpsat":
        cb = CpSatBuilder(ctx.deadline)
        model = build(agg, cb)
        sink = (lambda obj: ctx.on_incumbent(obj, None, "cpsat")) if ctx.options.return_progress else None
        backend = CpSatBackend(cb.model, ctx.options, ctx.workers, model.tiers, sink, ctx.deadline.token)
        size = cb.size()
    else:
        pb = PulpBuilder(ctx.deadline)
        model = build(agg, pb)
        backend = PulpBackend(pb.problem, ctx.options, ctx.options.ilp_solver)
        size = pb.size()
    if ctx.hint is not None:
        backend.set_hint(hint(model, *from_plan(arr, ctx.hint)))
    build_s = time.perf_counter() - t0
    ctx.deadline.check("model building")
    reserve = ctx.reserve_s
    if engine != "cpsat":
        reserve += overrun_allowance(size[0], ctx.options.ilp_solver, ctx.deadline.remaining())
    lex = solve_lexicographic(backend, model.tiers, ctx.deadline, reserve, ctx.nominal_s)

    def plan() -> Any:
        st = fill(decode(model, backend.value))
        return to_plan(arr, st.node_of, st.gpus_of)

    return lexicographic_outcome(lex, backend, method, build_s, size, lambda: policy_conflicts(agg), plan)
