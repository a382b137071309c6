"""Run a PuLP model under a Deadline: HiGHS in-process (highspy), CBC (bundled with PuLP) second.

PuLP reports "Optimal" when HiGHS stopped on its time limit with a solution, so the status is read
from the solver itself: HiGHS's model status and dual bound, CBC's solution status.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any, Literal

import highspy
import numpy as np
import pulp

from models.common import Sense, SolveOptions
from solver.engine.lexicographic import StageResult, StageStatus

MIN_STAGE_S = 0.005
# Kept back from the search so that the answer is on time: PuLP hands the model to the solver anew at
# every stage (about 10 us per variable), and HiGHS checks its time limit only between phases, some of
# which are long (presolve, root cuts, sub-MIP heuristics): measured overruns of up to 0.24 s on
# j30-sized workflow models (2.4k variables) at 1.3 s, and 0.13-0.17 s of presolve past a 0.016 s limit
# on a 7.4k-variable pods model; 5% of the limit on others. A per-variable allowance covers the phases,
# a share of the budget the rest.
SOLVER_S_PER_VARIABLE = {"highs": 80e-6, "cbc": 400e-6}  # CBC: its root pass ran 1.1 s past 0.7 s (j30)
OVERRUN_S = 0.03
OVERRUN_SHARE = 0.06


def overrun_allowance(variables: int, solver: str, remaining_s: float) -> float:
    """Seconds to keep back from a PuLP solve of a model this size so that it ends on time."""
    return SOLVER_S_PER_VARIABLE[solver] * variables + OVERRUN_S + OVERRUN_SHARE * remaining_s


_HIGHS_STATUS: dict[Any, StageStatus] = {
    highspy.HighsModelStatus.kOptimal: "optimal",
    highspy.HighsModelStatus.kInfeasible: "infeasible",
}


class _Highs(pulp.HiGHS):
    """PuLP's HiGHS interface with a bulk model load, a MIP start, and the solver's own status."""

    def __init__(self, start: Mapping[pulp.LpVariable, float] | None = None, **kwargs: Any):
        super().__init__(msg=False, **kwargs)
        self.start = start
        self.model_status: Any = None
        self.dual_bound: float | None = None
        self.has_primal = False

    def buildSolverModel(self, lp: pulp.LpProblem) -> None:  # noqa: N802 (PuLP's name)
        inf = highspy.kHighsInf
        variables = lp.variables()
        for i, v in enumerate(variables):
            v.index = i
        sign = -1.0 if lp.sense == pulp.LpMaximize else 1.0
        cost = np.array([sign * lp.objective.get(v, 0.0) for v in variables], dtype=np.float64)
        lower = np.array([-inf if v.lowBound is None else v.lowBound for v in variables], dtype=np.float64)
        upper = np.array([inf if v.upBound is None else v.upBound for v in variables], dtype=np.float64)
        h = lp.solverModel
        h.addCols(
            len(variables),
            cost,
            lower,
            upper,
            0,
            np.array([], dtype=np.int32),
            np.array([], dtype=np.int32),
            np.array([], dtype=np.float64),
        )
        integer = np.array([v.index for v in variables if v.cat == pulp.LpInteger], dtype=np.int32)
        if len(integer) and self.mip:
            h.changeColsIntegrality(
                len(integer), integer, np.full(len(integer), highspy.HighsVarType.kInteger)
            )
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        rlo: list[float] = []
        rhi: list[float] = []
        for i, con in enumerate(lp._constraints.values()):
            con.index = i
            starts.append(len(index))
            for var, coef in con.items():
                if coef:
                    index.append(var.index)
                    value.append(coef)
            lo, hi = con.getLb(), con.getUb()
            rlo.append(-inf if lo is None else lo)
            rhi.append(inf if hi is None else hi)
        if starts:
            h.addRows(
                len(starts),
                np.array(rlo, dtype=np.float64),
                np.array(rhi, dtype=np.float64),
                len(index),
                np.array(starts, dtype=np.int32),
                np.array(index, dtype=np.int32),
                np.array(value, dtype=np.float64),
            )
        if self.start:
            cols = np.array([v.index for v in self.start], dtype=np.int32)
            vals = np.array(list(self.start.values()), dtype=np.float64)
            h.setSolution(len(cols), cols, vals)

    def findSolutionValues(self, lp: pulp.LpProblem) -> tuple[int, int]:  # noqa: N802
        h = lp.solverModel
        self.model_status = h.getModelStatus()
        info = h.getInfo()
        self.has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
        bound = info.mip_dual_bound
        if self.model_status == highspy.HighsModelStatus.kOptimal:
            bound = h.getObjectiveValue()
        self.dual_bound = bound if math.isfinite(bound) else None
        if self.has_primal:
            col_value = list(h.getSolution().col_value)
            for v in lp.variables():
                v.varValue = col_value[v.index]
        if self.model_status == highspy.HighsModelStatus.kOptimal:
            return pulp.LpStatusOptimal, pulp.LpSolutionOptimal
        if self.model_status == highspy.HighsModelStatus.kInfeasible:
            return pulp.LpStatusInfeasible, pulp.LpSolutionInfeasible
        if self.has_primal:
            return pulp.LpStatusNotSolved, pulp.LpSolutionIntegerFeasible
        return pulp.LpStatusNotSolved, pulp.LpSolutionNoSolutionFound


class PulpBackend:
    """A PuLP problem seen through the LexBackend protocol, remembering its best solution."""

    # a floating-point MIP orders weighted tiers reliably only with small weights
    max_weight = 1e6

    def __init__(
        self, problem: pulp.LpProblem, options: SolveOptions, solver: Literal["highs", "cbc"] = "highs"
    ):
        self.problem = problem
        self.options = options
        self.solver = solver
        self.solution: dict[str, float] | None = None
        self.start: dict[pulp.LpVariable, float] | None = None
        self.solve_s = 0.0
        self.raw_status = ""

    def set_hint(self, values: Mapping[pulp.LpVariable, float]) -> None:
        self.start = dict(values)

    def hint_last_solution(self) -> None:
        if self.solution is not None:
            by_name = self.problem.variablesDict()
            self.start = {by_name[n]: x for n, x in self.solution.items() if n in by_name}

    def set_objective(self, expr: Any, sense: Sense) -> None:
        self.problem.setObjective(expr)
        self.problem.sense = pulp.LpMaximize if sense == "max" else pulp.LpMinimize

    def add_at_least(self, expr: Any, value: int) -> None:
        self.problem += expr >= value

    def add_at_most(self, expr: Any, value: int) -> None:
        self.problem += expr <= value

    def has_solution(self) -> bool:
        return self.solution is not None

    def evaluate(self, expr: Any) -> float:
        assert self.solution is not None
        if isinstance(expr, pulp.LpVariable):
            return self.solution.get(expr.name, 0.0)
        total = float(expr.constant)
        for var, coef in expr.items():
            total += coef * self.solution.get(var.name, 0.0)
        return total

    def value(self, var: pulp.LpVariable) -> float:
        assert self.solution is not None
        return self.solution.get(var.name, 0.0)

    def solve(self, seconds: float, nominal: float | None = None) -> StageResult:
        if seconds < MIN_STAGE_S:
            return StageResult("unknown", None, "NO_TIME")
        t0 = time.perf_counter()
        try:
            result = self._solve_highs(seconds) if self.solver == "highs" else self._solve_cbc(seconds)
        finally:
            self.solve_s += time.perf_counter() - t0
        self.raw_status = result.raw_status
        return result

    def _snapshot(self) -> None:
        self.solution = {v.name: float(v.varValue or 0.0) for v in self.problem.variables()}

    def _solve_highs(self, seconds: float) -> StageResult:
        solver = _Highs(
            start=self.start,
            timeLimit=seconds,
            gapRel=self.options.relative_gap,
            random_seed=self.options.seed,
        )
        self.problem.solve(solver)
        status = _HIGHS_STATUS.get(solver.model_status, "feasible" if solver.has_primal else "unknown")
        if status in ("optimal", "feasible"):
            self._snapshot()
        bound = solver.dual_bound
        if bound is not None:
            if self.problem.sense == pulp.LpMaximize:
                bound = -bound  # HiGHS minimised the negated objective
            bound += float(self.problem.objective.constant)  # PuLP passes HiGHS the costs, not the constant
        return StageResult(status, bound, str(solver.model_status).rsplit(".", 1)[-1])

    def _solve_cbc(self, seconds: float) -> StageResult:
        if self.start:
            for var, x in self.start.items():
                var.setInitialValue(x)
        solver = pulp.PULP_CBC_CMD(
            msg=False,
            timeLimit=seconds,
            gapRel=self.options.relative_gap,
            warmStart=bool(self.start),
            timeMode="elapsed",
        )
        try:
            self.problem.solve(solver)
        except pulp.PulpSolverError as exc:  # CBC died (it can crash on a MIP start stopped by its limit)
            return StageResult("unknown", None, f"CBC error: {exc}")
        sol = self.problem.sol_status
        if sol == pulp.LpSolutionOptimal:
            status: StageStatus = "optimal"
        elif sol == pulp.LpSolutionIntegerFeasible:
            status = "feasible"
        elif self.problem.status == pulp.LpStatusInfeasible:
            status = "infeasible"
        else:
            status = "unknown"
        if status in ("optimal", "feasible"):
            self._snapshot()
        bound = pulp.value(self.problem.objective) if status == "optimal" else None
        return StageResult(status, bound, pulp.LpSolution[sol] if sol in pulp.LpSolution else str(sol))
