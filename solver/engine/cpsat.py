"""Run a CP-SAT model under a Deadline: parameters, incumbents, status, bound, warm start.

The solver stops itself at max_time_in_seconds; a timer calls stop_search() shortly after as a
backstop, because presolve of a large model can overrun the limit it was given.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ortools.sat.python import cp_model

from models.common import Sense, SolveOptions
from solver.engine.budget import CancelToken
from solver.engine.lexicographic import StageResult, StageStatus, Tier

MIN_STAGE_S = 0.002
STOP_GRACE_S = 0.01
# With workers=1 runs must be reproducible, so a deterministic-time limit must stop CP-SAT before the
# wall clock does. Measured here on one worker: 0.64-0.9 deterministic units per wall second once
# presolve is done (0.3 on presolve-heavy short runs); 0.35 per second of budget stops first even
# when the machine runs at half speed.
DTIME_PER_WALL_S = 0.35


def default_workers(options: SolveOptions) -> int:
    return options.workers or max(1, min(8, os.cpu_count() or 1))


_STATUS: dict[Any, StageStatus] = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.MODEL_INVALID: "unknown",
    cp_model.UNKNOWN: "unknown",
}


class _Incumbents(cp_model.CpSolverSolutionCallback):
    def __init__(self, tiers: Sequence[Tier], sink: Callable[[dict[str, float]], None]):
        super().__init__()
        self._tiers = tiers
        self._sink = sink

    def on_solution_callback(self) -> None:
        self._sink({t.name: float(self.value(t.expr)) for t in self._tiers})


class CpSatBackend:
    """A CpModel seen through the LexBackend protocol, remembering its best solution."""

    max_weight = float(2**53)

    def __init__(
        self,
        model: cp_model.CpModel,
        options: SolveOptions,
        workers: int,
        tiers: Sequence[Tier] = (),
        on_incumbent: Callable[[dict[str, float]], None] | None = None,
        token: CancelToken | None = None,
        parameters: Mapping[str, Any] | None = None,
    ):
        self.model = model
        self.options = options
        self.workers = workers
        self._tiers = tiers
        self._on_incumbent = on_incumbent
        self._token = token
        self._parameters = dict(parameters or {})  # a family's own SAT parameters (e.g. its subsolvers)
        self._solver: cp_model.CpSolver | None = None
        self.solution: list[int] | None = None
        self.solve_s = 0.0
        self.dtime = 0.0  # deterministic time of the last solve, whatever its status
        self.raw_status = ""

    # hints -------------------------------------------------------------------------------------
    def set_hint(self, values: Mapping[Any, float]) -> None:
        self.model.clear_hints()
        hint = self.model.proto.solution_hint
        hint.vars.extend([v.index for v in values])
        hint.values.extend([int(x) for x in values.values()])

    def hint_last_solution(self) -> None:
        if self.solution is None:
            return
        self.model.clear_hints()
        hint = self.model.proto.solution_hint
        hint.vars.extend(range(len(self.solution)))
        hint.values.extend(self.solution)

    # LexBackend ----------------------------------------------------------------------------------
    def set_objective(self, expr: Any, sense: Sense) -> None:
        if sense == "max":
            self.model.maximize(expr)
        else:
            self.model.minimize(expr)

    def add_at_least(self, expr: Any, value: int) -> None:
        self.model.add(expr >= value)

    def add_at_most(self, expr: Any, value: int) -> None:
        self.model.add(expr <= value)

    def has_solution(self) -> bool:
        return self.solution is not None

    def evaluate(self, expr: Any) -> float:
        assert self._solver is not None
        return float(self._solver.value(expr))

    def value(self, var: Any) -> int:
        assert self.solution is not None
        return self.solution[var.index]

    def solve(self, seconds: float, nominal: float | None = None) -> StageResult:
        if seconds < MIN_STAGE_S:
            return StageResult("unknown", None, "NO_TIME")
        solver = cp_model.CpSolver()
        p = solver.parameters
        p.max_time_in_seconds = seconds
        p.num_workers = self.workers
        p.random_seed = self.options.seed
        if self.workers == 1:
            p.max_deterministic_time = (
                seconds if nominal is None else min(seconds, nominal)
            ) * DTIME_PER_WALL_S
        if self.options.relative_gap > 0:
            p.relative_gap_limit = self.options.relative_gap
        for name, value in self._parameters.items():
            if isinstance(value, list | tuple):
                getattr(p, name).extend(value)
            else:
                setattr(p, name, value)
        callback = (
            _Incumbents(self._tiers, self._on_incumbent) if self._on_incumbent and self._tiers else None
        )
        timer = threading.Timer(seconds + STOP_GRACE_S, solver.stop_search)
        timer.daemon = True
        t0 = time.perf_counter()
        timer.start()
        try:
            if self._token is None:
                code = solver.solve(self.model, callback)
            else:
                with self._token.hook(solver.stop_search):
                    code = solver.solve(self.model, callback)
        finally:
            timer.cancel()
        self.solve_s += time.perf_counter() - t0
        status = _STATUS.get(code, "unknown")
        self.raw_status = solver.status_name(code)
        self.dtime = float(solver.response_proto.deterministic_time)
        if status in ("optimal", "feasible"):
            self._solver = solver
            self.solution = list(solver.response_proto.solution)
        # a bound is only reported by a search that got past presolve with an answer
        has_bound = status in ("optimal", "feasible") and self.model.proto.has_objective()
        return StageResult(status, solver.best_objective_bound if has_bound else None, self.raw_status)


def model_size(model: cp_model.CpModel) -> tuple[int, int]:
    proto = model.proto
    return len(proto.variables), len(proto.constraints)
