"""What CP-SAT (cpsat.py) and the ILP (ilp.py) share: warm-start the replica-mix model from the best
baseline, solve it tier by tier (solver.engine.lexicographic), decode; bounds come back in the
objective's units."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from solver.engine.family import ExactContext, ExactOutcome, lexicographic_outcome
from solver.engine.lexicographic import solve_lexicographic
from solver.parallelism import formulation
from solver.parallelism.explain import engine_conflicts
from solver.parallelism.plans import LATENCY, from_plan, to_plan
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


def latency_cap_us(p: Problem, ctx: ExactContext) -> int | None:
    """min_latency: the hint's latency, above which no variant can be in an optimum."""
    if p.objective != "min_latency" or ctx.hint_objective is None:
        return None
    return int(round(ctx.hint_objective[LATENCY] * LATENCY_SCALE))


def run(
    p: Problem,
    model: formulation.Model,
    backend: Any,
    size: tuple[int, int],
    method: str,
    engine_name: str,
    ctx: ExactContext,
    started: float,
) -> ExactOutcome:
    """Hint, solve and decode a built model on its backend (CpSatBackend or PulpBackend)."""
    senses = {t.name: t.sense for t in model.tiers}
    if ctx.hint is not None:
        values = formulation.hint(p, model, from_plan(p, ctx.hint))
        if values is not None:
            backend.set_hint(values)
    build_s = time.perf_counter() - started
    ctx.deadline.check("model building")
    lex = solve_lexicographic(backend, model.tiers, ctx.deadline, ctx.reserve_s, ctx.nominal_s)
    return lexicographic_outcome(
        lex,
        backend,
        method,
        build_s,
        size,
        conflicts=lambda: engine_conflicts(p, engine_name),
        decode=lambda: to_plan(p, formulation.decode(p, model, backend.value)),
        bound=to_units(lex.bound, senses),
    )
