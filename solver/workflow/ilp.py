"""The time-indexed (pulse) formulation in PuLP, solved by HiGHS in-process or CBC.

x[j, m, t] = 1 when task j starts at period t in mode m (Pritsker, Watters & Wolfe 1969), for the starts
its time window, its deadline and the calendars allow. Each x comes with a continuous "started by t"
S[j, m, t] = S[j, m, t-1] + x[j, m, t], which keeps every other row short:
  - precedences disaggregated (Christofides, Alvarez-Valdes & Tamarit 1987): for each period t,
    sum_m S[j, m, t] <= sum_m S[i, m, t - d_im - lag] ("j started by t" only if "i finished by t - lag"),
    the strong relaxation, in a few coefficients per row instead of the whole window;
  - capacity per resource and period: sum dem * (S[t] - S[t - d]), the tasks running at t;
  - disjunctive sets as capacity-1 rows; budgets on the modes; the makespan above every end.
The horizon is the heuristic's makespan when the objective is the makespan, the safe horizon otherwise:
the model grows with it, so the engine declines long horizons and large models with the numbers instead
of running out of time or memory.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import numpy as np
import pulp

from models.workflow import MAKESPAN
from solver.engine.errors import EngineDeclined
from solver.engine.family import ExactContext, ExactOutcome, lexicographic_outcome
from solver.engine.ilp import PulpBackend, overrun_allowance
from solver.engine.lexicographic import Tier, solve_lexicographic
from solver.workflow import sgs
from solver.workflow.bound import cheap_bound
from solver.workflow.cpsat import infeasible_conflicts
from solver.workflow.plans import from_plan, to_plan
from solver.workflow.problem import Problem, horizon_for

MAX_PERIODS = 500
MAX_BINARIES = 6_000
CHECK_EVERY = 500
CBC_MAX_VARIABLES = 2_000  # CBC's root pass ran 1.1 s past 0.7 s on j30 (see solver.engine.ilp)

Terms = list[tuple[Any, float]]


def capacity_over_time(p: Problem, horizon: int) -> np.ndarray:
    """[Q, horizon] capacity of each row in each period, calendars applied."""
    cap = np.repeat(p.cap.reshape(-1, 1), max(horizon, 1), axis=1)
    for q, start, end, capacity in p.windows:
        cap[q, start : min(end, horizon)] = capacity
    return cap


def candidate_starts(p: Problem, horizon: int) -> list[list[np.ndarray]]:
    """Per task and mode: the start periods its window allows, where its demands fit the calendars."""
    bwd = p.backward(horizon)
    cap_t = capacity_over_time(p, horizon)
    out: list[list[np.ndarray]] = []
    for j in range(p.n):
        per_mode = []
        for md in p.modes[j]:
            lo, hi = p.fwd.es[j], min(bwd.lf[j], horizon) - md.duration
            if not md.fits or hi < lo:
                per_mode.append(np.zeros(0, dtype=np.int64))
                continue
            taus = np.arange(lo, hi + 1, dtype=np.int64)
            if md.duration > 0 and len(md.rows):
                ok = np.all(cap_t[md.rows] >= md.dem[md.rows][:, None], axis=0).astype(np.int64)
                run = np.concatenate([[0], np.cumsum(ok)])
                taus = taus[run[taus + md.duration] - run[taus] == md.duration]
            per_mode.append(taus)
        out.append(per_mode)
    return out


class TimeIndexed:
    def __init__(self, p: Problem, horizon: int, starts: list[list[np.ndarray]], check: Any):
        self.p = p
        self.horizon = horizon
        self.starts = starts
        self.prob = pulp.LpProblem("workflow", pulp.LpMinimize)
        self._check = check
        self._rows = 0
        self.x: list[list[list[Any]]] = []
        self.s: list[list[list[Any]]] = []  # S[j][m][t - first]: started by t, over [first, last]
        for j in range(p.n):
            xs, ss = [], []
            for k, taus in enumerate(starts[j]):
                xs.append(
                    [self.prob.add_variable(f"x_{j}_{k}_{t}", 0, 1, pulp.LpInteger) for t in taus.tolist()]
                )
                span = int(taus[-1] - taus[0]) + 1 if len(taus) else 0
                ss.append([self.prob.add_variable(f"s_{j}_{k}_{u}", 0, 1) for u in range(span)])
            self.x.append(xs)
            self.s.append(ss)
        self.end_expr = [
            pulp.LpAffineExpression(
                [
                    (v, float(t + p.modes[j][k].duration))
                    for k, taus in enumerate(starts[j])
                    for v, t in zip(self.x[j][k], taus.tolist(), strict=True)
                ]
            )
            for j in range(p.n)
        ]
        self.tardy: dict[int, Any] = {}
        self.makespan: Any = None
        self.tiers: list[Tier] = []

    def add(self, constraint: Any) -> None:
        self.prob += constraint
        self._rows += 1
        if self._rows % CHECK_EVERY == 0:
            self._check()

    def started(self, j: int, k: int, t: int) -> tuple[Terms, float]:
        """ "Task j started by period t in mode k" as (terms, constant)."""
        taus = self.starts[j][k]
        if not len(taus) or t < taus[0]:
            return [], 0.0
        u = min(int(t - taus[0]), len(self.s[j][k]) - 1)
        return [(self.s[j][k][u], 1.0)], 0.0

    def build(self) -> None:
        p = self.p
        for j in range(p.n):
            terms = [(v, 1.0) for k in range(len(self.x[j])) for v in self.x[j][k]]
            self.add(pulp.LpAffineExpression(terms) == 1)
            for k, taus in enumerate(self.starts[j]):
                if not len(taus):
                    continue
                x_at = dict(zip(taus.tolist(), self.x[j][k], strict=True))
                first = int(taus[0])
                for u, s in enumerate(self.s[j][k]):
                    row: Terms = [(s, 1.0)]
                    if u:
                        row.append((self.s[j][k][u - 1], -1.0))
                    if first + u in x_at:
                        row.append((x_at[first + u], -1.0))
                    self.add(pulp.LpAffineExpression(row) == 0)
        for j in range(p.n):
            for i, lag in p.preds[j]:
                self._precedence(i, j, lag)
        self._capacity()
        for k in range(len(p.nr_names)):
            terms = [
                (v, float(p.modes[j][m].use[k]))
                for j in range(p.n)
                for m in range(len(self.x[j]))
                if p.modes[j][m].use[k] > 0
                for v in self.x[j][m]
            ]
            if terms:
                self.add(pulp.LpAffineExpression(terms) <= int(p.budget[k]))
        self._objectives()

    def _precedence(self, i: int, j: int, lag: int) -> None:
        """For each period t where j may start: (j started by t) <= (i finished by t - lag)."""
        p = self.p
        times = sorted({int(t) for taus in self.starts[j] for t in taus.tolist()})
        i_done = max(
            (int(t[-1]) + p.modes[i][k].duration + lag for k, t in enumerate(self.starts[i]) if len(t)),
            default=0,
        )
        for t in times:
            if t >= i_done:
                break  # i surely finished by t - lag: the row holds trivially from here on
            row: Terms = []
            for k in range(len(self.starts[j])):
                row += self.started(j, k, t)[0]
            for k in range(len(self.starts[i])):
                row += [(v, -c) for v, c in self.started(i, k, t - p.modes[i][k].duration - lag)[0]]
            self.add(pulp.LpAffineExpression(row) <= 0)

    def _capacity(self) -> None:
        p = self.p
        cap_t = capacity_over_time(p, self.horizon)
        for q in range(p.n_rows):
            rows: dict[int, Terms] = defaultdict(list)
            peak: dict[int, int] = defaultdict(int)
            for j in range(p.n):
                for k, taus in enumerate(self.starts[j]):
                    md = p.modes[j][k]
                    dem = float(md.dem[q])
                    if dem == 0 or md.duration == 0 or not len(taus):
                        continue
                    # running at t: started by t and not by t - d
                    for t in range(int(taus[0]), min(int(taus[-1]) + md.duration, self.horizon)):
                        on, _ = self.started(j, k, t)
                        off, _ = self.started(j, k, t - md.duration)
                        rows[t] += [(v, dem) for v, _ in on] + [(v, -dem) for v, _ in off]
                        peak[t] += int(dem)
            for t in sorted(rows):
                if peak[t] > cap_t[q, t]:
                    self.add(pulp.LpAffineExpression(rows[t]) <= int(cap_t[q, t]))

    def _objectives(self) -> None:
        p = self.p
        bound = cheap_bound(p)
        lb = min(int(bound[MAKESPAN] or 0), self.horizon)
        self.makespan = self.prob.add_variable("makespan", lb, self.horizon, pulp.LpInteger)
        for j in range(p.n):
            if not any(lag >= 0 for _, lag in p.succs[j]):
                self.add(self.makespan - self.end_expr[j] >= 0)
        ms_tier = Tier(MAKESPAN, self.makespan, "min", lb, self.horizon)
        if p.objective == MAKESPAN:
            self.tiers = [ms_tier]
            return
        last_end = [
            max(
                (int(t[-1]) + p.modes[j][k].duration for k, t in enumerate(self.starts[j]) if len(t)),
                default=0,
            )
            for j in range(p.n)
        ]
        if p.objective == "weighted_tardiness":
            expr = pulp.LpAffineExpression()
            ub = 0
            for j in range(p.n):
                due = p.due[j]
                if due is None or p.weight[j] == 0:
                    continue
                top = max(0, last_end[j] - due)
                t = self.prob.add_variable(f"t_{j}", 0, top, pulp.LpInteger)
                self.add(t - self.end_expr[j] >= -due)
                self.tardy[j] = t
                expr += p.weight[j] * t
                ub += p.weight[j] * top
        else:
            expr = pulp.lpSum(p.weight[j] * self.end_expr[j] for j in range(p.n) if p.weight[j])
            ub = sum(p.weight[j] * last_end[j] for j in range(p.n))
        lo = min(int(bound[p.objective] or 0), ub)
        self.tiers = [Tier(p.objective, expr, "min", lo, ub), ms_tier]

    def hint(self, sched: sgs.Schedule) -> dict[Any, float] | None:
        p = self.p
        values: dict[Any, float] = {}
        ends = sched.ends(p)
        for j in range(p.n):
            found = False
            for k, taus in enumerate(self.starts[j]):
                for v, t in zip(self.x[j][k], taus.tolist(), strict=True):
                    hit = k == sched.mode[j] and t == sched.start[j]
                    values[v] = 1.0 if hit else 0.0
                    found = found or hit
                first = int(taus[0]) if len(taus) else 0
                for u, s in enumerate(self.s[j][k]):
                    values[s] = 1.0 if k == sched.mode[j] and sched.start[j] <= first + u else 0.0
            if not found:
                return None
        values[self.makespan] = float(max(ends, default=0))
        for j, t in self.tardy.items():
            due = p.due[j]
            assert due is not None
            values[t] = float(max(0, ends[j] - due))
        return values

    def decode(self, backend: PulpBackend) -> sgs.Schedule:
        p = self.p
        start = [0] * p.n
        mode = [0] * p.n
        for j in range(p.n):
            best = -1.0
            for k, taus in enumerate(self.starts[j]):
                for v, t in zip(self.x[j][k], taus.tolist(), strict=True):
                    val = backend.value(v)
                    if val > best:
                        best, start[j], mode[j] = val, t, k
        return sgs.left_justify(p, sgs.Schedule(start, mode))


def solve(p: Problem, ctx: ExactContext) -> ExactOutcome:
    t0 = time.perf_counter()
    hint = from_plan(p, ctx.hint) if ctx.hint is not None else None
    horizon = horizon_for(p, hint.makespan(p) if hint is not None else None)
    source = (
        "the heuristic's makespan" if hint is not None and p.objective == MAKESPAN else "the safe horizon"
    )
    if horizon > MAX_PERIODS:
        bwd = p.backward(horizon)
        estimate = sum(
            max(0, min(bwd.lf[j], horizon) - md.duration - p.fwd.es[j] + 1)
            for j in range(p.n)
            for md in p.modes[j]
            if md.fits
        )
        raise EngineDeclined(
            f"the time-indexed model needs a horizon of {horizon} periods ({source}) and about {estimate} "
            f"start binaries x[j,m,t], above the ILP engine's limits of {MAX_PERIODS} periods and "
            f"{MAX_BINARIES} binaries; use engine cpsat"
        )
    starts = candidate_starts(p, horizon)
    binaries = sum(len(t) for per in starts for t in per)
    if binaries > MAX_BINARIES:
        raise EngineDeclined(
            f"the time-indexed model needs {binaries} start binaries x[j,m,t] ({p.n} tasks over a horizon of "
            f"{horizon} periods, {source}), above the ILP engine's limit of {MAX_BINARIES}; use engine cpsat"
        )
    model = TimeIndexed(p, horizon, starts, lambda: ctx.deadline.check("model building"))
    model.build()
    backend = PulpBackend(model.prob, ctx.options, ctx.options.ilp_solver)
    # The bundled CBC segfaults when it is given a MIP start and stops on its time limit (reproduced
    # with its command line alone): CBC starts cold, HiGHS from the heuristic's plan.
    if hint is not None and ctx.options.ilp_solver == "highs":
        values = model.hint(hint)
        if values is not None:
            backend.set_hint(values)
    build_s = time.perf_counter() - t0
    ctx.deadline.check("model building")
    variables = len(model.prob.variables())
    if ctx.options.ilp_solver == "cbc" and variables > CBC_MAX_VARIABLES:
        raise EngineDeclined(
            f"the time-indexed model has {variables} variables; CBC's root pass ignores its time limit on "
            f"models above {CBC_MAX_VARIABLES} (measured 1.1 s late on a j30 instance), so it would answer "
            "late; use ilp_solver highs or engine cpsat"
        )
    reserve = ctx.reserve_s + overrun_allowance(variables, ctx.options.ilp_solver, ctx.deadline.remaining())
    try:
        lex = solve_lexicographic(backend, model.tiers, ctx.deadline, reserve, ctx.nominal_s)
    except pulp.PulpSolverError as exc:  # the solver process failed: the heuristic's plan stands
        return ExactOutcome(
            None,
            "SOLVER_ERROR",
            f"ilp-{ctx.options.ilp_solver} time-indexed",
            build_s=build_s,
            solve_s=backend.solve_s,
            notes=[f"ilp-{ctx.options.ilp_solver} failed and its result was dropped: {exc}"],
        )
    return lexicographic_outcome(
        lex,
        backend,
        f"ilp-{ctx.options.ilp_solver} time-indexed",
        build_s,
        (variables, model.prob.numConstraints()),
        conflicts=lambda: infeasible_conflicts(p, f"the ILP ({ctx.options.ilp_solver})"),
        decode=lambda: to_plan(p, model.decode(backend)),
    )
