"""Build the replica-mix model on CP-SAT or PuLP, warm-start it from the best baseline, solve it tier by
tier (solver.engine.lexicographic), decode; bounds come back in the objective's units."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from solver.engine.cpsat import CpSatBackend
from solver.engine.family import ExactContext, ExactOutcome
from solver.engine.ilp import PulpBackend
from solver.engine.lexicographic import solve_lexicographic
from solver.engine.modeling import CpSatBuilder, PulpBuilder
from solver.parallelism import formulation
from solver.parallelism.explain import engine_conflicts
from solver.parallelism.plans import from_plan, to_plan
from solver.parallelism.problem import LATENCY_SCALE, Problem


def to_units(
    values: Mapping[str, float | None] | None, senses: Mapping[str, str]
) -> dict[str, float | None] | None:
    """Integer tier values -> the objective's units; a bound is rounded outward, never inward."""
    if values is None:
        return None
    out: dict[str, float | None] = {}
    for name, x in values.items():
        if x is None:
            out[name] = None
            continue
        scale = formulation.UNITS[name]
        raw = math.floor(x) if senses[name] == "min" else math.ceil(x)
        out[name] = raw / scale
    return out


def solve(p: Problem, engine: str, ctx: ExactContext) -> ExactOutcome:
    t0 = time.perf_counter()
    backend: Any
    cap = None
    if p.objective == "min_latency" and ctx.hint_objective is not None:
        cap = int(round(ctx.hint_objective["latency_ms"] * LATENCY_SCALE))
    if engine == "cpsat":
        cb = CpSatBuilder(ctx.deadline)
        model = formulation.build(p, cb, cap)
        senses = {t.name: t.sense for t in model.tiers}

        def sink(obj: dict[str, float]) -> None:
            ctx.on_incumbent(to_units(dict(obj), senses) or {}, None, "cpsat")  # type: ignore[arg-type]

        backend = CpSatBackend(
            cb.model,
            ctx.options,
            ctx.workers,
            model.tiers,
            sink if ctx.options.return_progress else None,
            ctx.deadline.token,
        )
        size = cb.size()
        method = "cpsat"
    else:
        pb = PulpBuilder(ctx.deadline, "parallelism")
        model = formulation.build(p, pb, cap)
        backend = PulpBackend(pb.problem, ctx.options, ctx.options.ilp_solver)
        size = pb.size()
        method = f"ilp-{ctx.options.ilp_solver}"
    senses = {t.name: t.sense for t in model.tiers}
    if ctx.hint is not None:
        values = formulation.hint(p, model, from_plan(p, ctx.hint))
        if values is not None:
            backend.set_hint(values)
    build_s = time.perf_counter() - t0
    ctx.deadline.check("model building")
    lex = solve_lexicographic(backend, model.tiers, ctx.deadline, ctx.reserve_s, ctx.nominal_s)
    out = ExactOutcome(
        None,
        lex.raw_status,
        method,
        build_s=build_s,
        solve_s=backend.solve_s,
        variables=size[0],
        constraints=size[1],
    )
    if lex.status == "infeasible":
        out.infeasible = True
        out.conflicts = engine_conflicts(p, "CP-SAT" if engine == "cpsat" else "the ILP")
        return out
    out.proven_optimal = lex.status == "optimal"
    out.bound = to_units(lex.bound, senses)
    if backend.has_solution():
        out.plan = to_plan(p, formulation.decode(p, model, backend.value))
    return out
