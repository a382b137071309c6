"""The replica-mix model (formulation.py) on CP-SAT, warm-started from the best baseline, with the
incumbents streamed as progress."""

from __future__ import annotations

import time

from solver.engine.cpsat import CpSatBackend
from solver.engine.family import ExactContext, ExactOutcome
from solver.engine.modeling import CpSatBuilder
from solver.parallelism import exact, formulation
from solver.parallelism.problem import Problem


def solve(p: Problem, ctx: ExactContext) -> ExactOutcome:
    t0 = time.perf_counter()
    cb = CpSatBuilder(ctx.deadline)
    model = formulation.build(p, cb, exact.latency_cap_us(p, ctx))
    senses = {t.name: t.sense for t in model.tiers}

    def sink(obj: dict[str, float]) -> None:
        ctx.on_incumbent(exact.to_units(dict(obj), senses) or {}, None, "cpsat")  # type: ignore[arg-type]

    backend = CpSatBackend(
        cb.model,
        ctx.options,
        ctx.workers,
        model.tiers,
        sink if ctx.options.return_progress else None,
        ctx.deadline.token,
    )
    return exact.run(p, model, backend, cb.size(), "cpsat", "CP-SAT", ctx, t0)
