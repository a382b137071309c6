"""The replica-mix model (formulation.py) in PuLP, solved by HiGHS in-process (or CBC), warm-started
from the best baseline."""

from __future__ import annotations

import time

from solver.engine.family import ExactContext, ExactOutcome
from solver.engine.ilp import PulpBackend
from solver.engine.modeling import PulpBuilder
from solver.parallelism import exact, formulation
from solver.parallelism.problem import Problem


def solve(p: Problem, ctx: ExactContext) -> ExactOutcome:
    t0 = time.perf_counter()
    pb = PulpBuilder(ctx.deadline, "parallelism")
    model = formulation.build(p, pb, exact.latency_cap_us(p, ctx))
    backend = PulpBackend(pb.problem, ctx.options, ctx.options.ilp_solver)
    method = f"ilp-{ctx.options.ilp_solver}"
    return exact.run(p, model, backend, pb.size(), method, "the ILP", ctx, t0)
