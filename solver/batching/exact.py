"""Build the multi-checkpoint knapsack on a backend, warm-start it from the hint, solve it, decode.

The window of candidates (policy.max_candidates waiting requests, policy.max_preempt_candidates running
ones) keeps the model small enough for a per-step budget of milliseconds; when it covers every request,
the engine's proof is a proof for the step (status optimal), otherwise only the family's cheap bound
certifies, and the status says feasible.
"""

from __future__ import annotations

import time

import numpy as np

from solver.batching import formulation
from solver.batching.heuristic import Step
from solver.batching.plans import Decision, evaluate, from_plan, to_plan
from solver.batching.problem import Problem
from solver.engine.cpsat import CpSatBackend
from solver.engine.family import ExactContext, ExactOutcome
from solver.engine.ilp import PulpBackend
from solver.engine.modeling import CpSatBuilder, PulpBuilder

# A model's size grows with candidates x scenarios x hull rows; building it costs about this much per
# candidate and scenario in Python (measured: 48 candidates, 8 scenarios, 2.5 ms on CP-SAT, 4 ms on PuLP).
BUILD_S_PER_CELL = {"cpsat": 8e-6, "ilp": 12e-6}
SOLVER_START_S = {"cpsat": 0.002, "ilp": 0.003}  # fixed cost of a solve call


def window(p: Problem, engine: str, seconds: float) -> tuple[int, float]:
    """The candidate window the budget affords (at most policy.max_candidates, at least 4), and the
    estimated time to build it: a deterministic stand-in for the measured one, so that with one worker
    the solver's own limit depends on the request alone."""
    per_candidate = BUILD_S_PER_CELL[engine] * p.scenarios
    cells = max(0.0, seconds * 0.5 - SOLVER_START_S[engine]) / per_candidate
    size = int(max(4, min(p.inst.policy.max_candidates, cells)))
    return size, SOLVER_START_S[engine] + size * per_candidate


def solve(engine: str, p: Problem, ctx: ExactContext) -> ExactOutcome:
    t0 = time.perf_counter()
    hint = from_plan(p, ctx.hint) if ctx.hint is not None else None
    budget = ctx.nominal_s if ctx.workers == 1 else ctx.deadline.remaining() - ctx.reserve_s
    limit, build_estimate_s = window(p, engine, budget)
    if engine == "cpsat":
        cb = CpSatBuilder(ctx.deadline)
        model = formulation.build(p, cb, hint, limit)
        backend: CpSatBackend | PulpBackend = CpSatBackend(
            cb.model, ctx.options, ctx.workers, token=ctx.deadline.token
        )
        size = cb.size()
    else:
        pb = PulpBuilder(ctx.deadline, "batching")
        model = formulation.build(p, pb, hint, limit)
        backend = PulpBackend(pb.problem, ctx.options, solver=ctx.options.ilp_solver)
        size = pb.size()
    backend.set_objective(model.objective, "max")
    if model.hint:
        backend.set_hint(model.hint)
    build_s = time.perf_counter() - t0
    seconds = ctx.deadline.remaining() - ctx.reserve_s
    res = backend.solve(seconds, max(0.0, budget - build_estimate_s))
    out = ExactOutcome(
        plan=None,
        engine_status=res.raw_status,
        method=f"{engine}-knapsack-{'complete' if model.complete else f'window-{len(model.cand)}'}",
        build_s=build_s,
        solve_s=backend.solve_s,
        variables=size[0],
        constraints=size[1],
    )
    if not model.complete:
        out.notes.append(
            f"{engine}: chose among {len(model.cand)} of {p.nw} waiting and {len(model.pre)} of {p.nr} "
            "running requests (policy.max_candidates, max_preempt_candidates and the budget); its proof "
            "covers that window only"
        )
    if res.status == "infeasible":
        out.notes.append(f"{engine}: the window's model is infeasible")
        return out
    if not backend.has_solution():
        return out
    d = decode(p, model, backend)
    if model.complete and res.bound is not None:
        # the engine's bound is on scale * score + offset (integers); the score itself may be fractional
        out.bound = {"score": (float(res.bound) - model.offset) / model.scale}
        out.proven_optimal = res.status == "optimal"
    if hint is not None and evaluate(p, d)["score"] <= evaluate(p, hint)["score"] + 1e-9:
        # no better than the hint: the hint's plan stands (among equal scores, the greedy's order decides
        # rather than the solver's arbitrary pick); a complete model's bound still proves it optimal
        out.notes.append(f"{engine}: no plan better than the guarded greedy's in the window")
        return out
    out.plan = to_plan(p, d)
    return out


def decode(p: Problem, m: formulation.Model, backend: CpSatBackend | PulpBackend) -> Decision:
    """The model's choice as a decision: whole prefills first (by arrival), the partial one last, given as
    large a chunk as the step still allows (the model only needed it to fit)."""

    def val(var: object) -> int:
        return int(round(float(backend.value(var))))

    kept = np.ones(p.nr, dtype=bool)
    for t, i in enumerate(m.pre.tolist()):
        kept[i] = val(m.k[t]) == 1
    st = Step(p, kept, np.where(kept, p.r_chunk, 0))
    partial: list[tuple[int, int]] = []
    for t, j in enumerate(m.cand.tolist()):
        if val(m.x[t]):
            if val(m.f[t]):
                st.take(j, int(p.w_work[j]))
            else:
                partial.append((t, j))
    for t, j in partial:
        x = int(p.w_prefix[j])
        prefix_blocks = int(p.px_blocks[x]) if x >= 0 and st.members[x] == 0 else 0
        room = (st.free - prefix_blocks) * p.block
        st.take(j, max(val(m.c[t]), min(int(p.w_work[j]) - 1, st.budget, room)))
    return st.decision()
