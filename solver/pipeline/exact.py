"""The exact engines: each objective as a sequence of exact steps. Where the device-class lattice is small,
two exact DPs do the work (bottleneck.py: the least bottleneck; latency_dp.py: the least latency under a
bottleneck cap), because they answer in milliseconds what a search takes tenths of a second to prove;
elsewhere the arc formulation in CP-SAT or the ILP (cpsat.py, ilp.py) proves each step.

throughput  1. the least bottleneck B*: the parametric search over the reach DP, else the arc model
               minimising B;
            2. the least latency among plans within B*: the latency DP capped at B*, else the arc model
               keeping only stages and cuts <= B*.
latency     1. the least latency L*: the latency DP uncapped, else the arc model (arcs that cannot be on a
               plan within the baseline's latency left out);
            2. the least bottleneck among plans of latency L*: the latency DP capped strictly below the
               plan's bottleneck until the latency grows, else the arc model with latency <= L* (plus the
               rounding of every term).
pareto      the latency end (as `latency`), the throughput end (as `throughput`), then an epsilon-constraint
            sweep between them: the least latency with every stage and cut strictly below the last
            point's bottleneck, until the throughput end is reached. A step that returns the same latency
            as the point before replaces it (that one was dominated). Every step proven optimal: the front
            is complete; when time runs out, the points found (each Pareto-optimal), the two ends and the
            baselines' points below the explored range, with an honest bound on the hypervolume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.pipeline import BOTTLENECK, HYPERVOLUME, LATENCY, ParetoFront
from solver.engine.budget import Deadline
from solver.engine.cpsat import DTIME_PER_WALL_S
from solver.engine.errors import DeadlineExceeded, EngineDeclined
from solver.engine.family import ExactContext, ExactOutcome
from solver.pipeline import arcs as arcset
from solver.pipeline import bottleneck as bn
from solver.pipeline import latency_dp as ldp
from solver.pipeline.cpsat import CpArcs, Step
from solver.pipeline.explain import memory_conflicts
from solver.pipeline.ilp import PulpArcs
from solver.pipeline.plans import (
    Evaluated,
    close,
    evaluate,
    from_stage_plan,
    hypervolume,
    non_dominated,
    to_front,
    to_stage_plan,
)
from solver.pipeline.problem import Problem

DP_RATE = 1e9  # work_estimate units per second (about 2e9 measured here)
DP_SHARE = 0.5  # of the nominal budget, at most, for the bottleneck search
DP_MIN_S = 0.05
ILP_S_PER_VARIABLE = 20e-6
CPSAT_S_PER_ARC = 3e-6
BUILD_S_PER_ARC = {"cpsat": 8e-6, "ilp": 40e-6}  # measured: 19k arcs in 0.14 s (CP-SAT), PuLP about 4x


@dataclass
class Run:
    """Bookkeeping across the steps of one exact solve."""

    p: Problem
    ctx: ExactContext
    engine: str
    build_s: float = 0.0
    solve_s: float = 0.0
    variables: int = 0
    constraints: int = 0
    raw: list[str] = field(default_factory=list)
    method: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    nominal_left: float = 0.0
    dp_steps: int = 0
    _dp: ldp.LatencyDP | None = None
    _dp_work: float = 0.0

    @property
    def dp_deadline(self) -> Deadline:
        """When the DPs stop: the request's deadline less the reserve for decoding and checking (the DPs
        have no incumbent to hand back mid-way, so they must stop in time for what follows)."""
        d = self.ctx.deadline
        return Deadline(max(0.0, d.time_limit_s - self.ctx.reserve_s), d.started, token=d.token)

    def stopped(self, what: str, exc: DeadlineExceeded) -> None:
        """Note a DP stopped by its deadline (the request's less the reserve)."""
        d = self.ctx.deadline
        self.notes.append(
            f"{what} stopped ({exc}: {self.ctx.reserve_s:.3g} s of the {d.time_limit_s:g} s limit are kept "
            "for checking and explaining the plans)"
        )

    def latency_dp(self) -> ldp.LatencyDP | None:
        """The exact least-latency DP when its table is small enough, else None (the arc model's turn)."""
        if self._dp is None:
            lat = bn.lattice(self.p)
            if lat is None or ldp.cells(self.p, lat) > ldp.MAX_CELLS:
                return None
            self._dp, self._dp_work = ldp.LatencyDP(self.p, lat, self.dp_deadline), ldp.work(self.p, lat)
        return self._dp

    def least_latency(self, cap: float) -> Evaluated | None:
        """One DP solve; with one worker the nominal budget is charged its estimated work, not the clock,
        so the same request stops at the same step."""
        dp = self.latency_dp()
        assert dp is not None
        t0 = time.perf_counter()
        placement = dp.solve(cap)
        spent = time.perf_counter() - t0
        self.solve_s += spent
        self.nominal_left -= self._dp_work / DP_RATE if self.ctx.workers == 1 else spent
        self.dp_steps += 1
        return evaluate(self.p, placement) if placement is not None else None

    def model(self, arcs: arcset.ArcSet) -> CpArcs | PulpArcs:
        """The formulation over these arcs; DeadlineExceeded when building it leaves no time to solve."""
        need = BUILD_S_PER_ARC[self.engine] * (arcs.n + arcs.cut_j.size) + 0.005
        if self.ctx.deadline.remaining() - self.ctx.reserve_s < 2 * need:
            raise DeadlineExceeded(f"no time left to build and solve a model of {arcs.n} arcs")
        t0 = time.perf_counter()
        if self.engine == "cpsat":
            m: CpArcs | PulpArcs = CpArcs(self.p, arcs, self.ctx.options, self.ctx.workers, self.ctx.deadline)
        else:
            m = PulpArcs(self.p, arcs, self.ctx.options, self.ctx.deadline)
        self.build_s += time.perf_counter() - t0
        v, c = m.size()
        self.variables, self.constraints = max(self.variables, v), max(self.constraints, c)
        return m

    def solve(self, m: CpArcs | PulpArcs, share: float = 1.0) -> Step:
        seconds = (self.ctx.deadline.remaining() - self.ctx.reserve_s) * share
        if isinstance(m, PulpArcs):  # PuLP hands the model over at each solve, HiGHS overruns a little
            seconds -= ILP_S_PER_VARIABLE * len(m.x) + 0.02
        else:  # CP-SAT stops late on large models under load (0.05 s measured at 17.6k arcs)
            seconds -= CPSAT_S_PER_ARC * m.arcs.n
        nominal = max(0.0, self.nominal_left * share)
        t0 = time.perf_counter()
        step = m.solve(seconds, nominal)
        spent = time.perf_counter() - t0
        self.solve_s += spent
        if isinstance(m, CpArcs) and self.ctx.workers == 1:
            self.nominal_left -= m.dtime / DTIME_PER_WALL_S if m.dtime else seconds
        else:
            self.nominal_left -= spent
        self.raw.append(step.raw)
        return step

    def outcome(self, plan: Any, proven: bool, bound: dict[str, float | None] | None) -> ExactOutcome:
        if self.dp_steps:
            self.raw.append(f"latency DP: {self.dp_steps} solves")
        return ExactOutcome(
            plan=plan,
            engine_status=", ".join(dict.fromkeys(self.raw)),
            method=" + ".join(dict.fromkeys(self.method)),
            proven_optimal=proven,
            bound=bound,
            build_s=self.build_s,
            solve_s=self.solve_s,
            variables=self.variables,
            constraints=self.constraints,
            notes=self.notes,
        )


def solve(p: Problem, ctx: ExactContext, engine: str) -> ExactOutcome:
    run = Run(p, ctx, engine, nominal_left=max(ctx.nominal_s, 0.0))
    if p.objective == "latency":
        return _latency_objective(run)
    if p.objective == "pareto":
        return _pareto(run)
    return _throughput_objective(run)


def _hints(ctx: ExactContext, p: Problem) -> list[Evaluated]:
    plan = ctx.hint
    if plan is None:
        return []
    plans = plan.plans if isinstance(plan, ParetoFront) else [plan]
    out = [evaluate(p, from_stage_plan(p, sp)) for sp in plans]
    return [e for e in out if e.feasible]


def _better(a: Evaluated | None, b: Evaluated | None, objective: str) -> Evaluated | None:
    if a is None:
        return b
    if b is None:
        return a
    ka, kb = a.key(objective), b.key(objective)
    for x, y in zip(ka, kb, strict=True):
        if not close(x, y):
            return a if x < y else b
    return a


# throughput ------------------------------------------------------------------------------------


@dataclass
class Tiers:
    best: Evaluated | None
    first_bound: float | None  # valid bound of the first tier (ms)
    first_proven: bool
    second_bound: float | None
    second_proven: bool
    infeasible: bool = False


def _least_bottleneck(
    run: Run, hints: list[Evaluated], share: float
) -> tuple[Evaluated | None, float | None, bool, bool]:
    """(plan, bound, proven, infeasible) of the least bottleneck."""
    p, ctx = run.p, run.ctx
    incumbent = min(hints, key=lambda e: e.key("throughput"), default=None)
    upper = incumbent.bottleneck if incumbent is not None else math.inf
    lower = float(ctx.bound.get(BOTTLENECK) or 0.0) if ctx.bound else 0.0
    lat = bn.lattice(p)
    allowed = DP_RATE * max(DP_MIN_S, DP_SHARE * max(ctx.nominal_s, 0.0))
    tests = math.log2(max(2.0, p.L * p.L * p.T)) + 2
    dl = run.dp_deadline
    try:
        if (
            lat is not None
            and p.uniform_cut is None
            and bn.work_estimate(p, lat, scalar=True) * tests <= allowed
        ):
            # the relaxation with every cut at its least over the class pairs: a lower bound, and often the
            # optimum itself (its plan, with the true cuts, meets it), at a fraction of the exact test's cost
            t0 = time.perf_counter()
            relaxed = bn.least_bottleneck(p, bn.Reach(p, lat, dl, p.min_cut), upper, lower, dl)
            run.solve_s += time.perf_counter() - t0
            run.raw.append(f"relaxed DP: {relaxed.tests} tests")
            allowed -= bn.work_estimate(p, lat, scalar=True) * relaxed.tests
            if relaxed.bottleneck is None:  # not even the relaxation has a plan within the upper bound
                run.method.append("reach-dp")
                return incumbent, upper if incumbent else None, True, incumbent is None
            assert relaxed.placement is not None
            lower = max(lower, relaxed.bottleneck)
            found = evaluate(p, relaxed.placement)
            if found.feasible:
                incumbent = _better(found, incumbent, "throughput")
                if found.bottleneck <= relaxed.bottleneck * (1 + 1e-12):
                    run.method.append("reach-dp")
                    return incumbent, relaxed.bottleneck, True, False
            upper = incumbent.bottleneck if incumbent is not None else math.inf
        work = bn.work_estimate(p, lat)
        if lat is not None and math.isfinite(upper):  # the bisection's tests over the candidates in range
            count = int(np.count_nonzero(bn.candidates(p, upper * (1 + 1e-12)) >= lower * (1 - 1e-12)))
            tests = math.log2(max(2, count)) + 2
        if lat is not None and work * tests <= allowed:
            t0 = time.perf_counter()
            res = bn.least_bottleneck(p, bn.Reach(p, lat, dl), upper, lower, dl)
            run.solve_s += time.perf_counter() - t0
            run.method.append("reach-dp")
            run.raw.append(f"DP: {res.tests} tests over {res.candidates} candidates")
            if res.bottleneck is None:  # nothing within the upper bound: the incumbent (if any) is optimal
                return incumbent, upper if incumbent else None, True, incumbent is None
            assert res.placement is not None
            found = evaluate(p, res.placement)
            return _better(found, incumbent, "throughput"), res.bottleneck, True, False
    except DeadlineExceeded as exc:  # keep what the DPs found so far: a plan and a lower bound
        run.stopped("bottleneck DP", exc)
        return incumbent, lower if lower > 0 else None, False, False
    if lat is None:
        run.notes.append(f"reach DP skipped: {p.C} device classes make its lattice too large")
    elif math.isinf(work):
        run.notes.append(f"reach DP skipped: its table would exceed {bn.MAX_BITSET} cells")
    else:
        run.notes.append(f"reach DP skipped: about {work * tests:.2g} operations for this budget")
    step, best = _first_tier(run, arcset.build(p, max_bottleneck=upper), "throughput", incumbent, share)
    if step.status == "infeasible":
        if incumbent is None:
            return None, None, True, True
        return best, incumbent.bottleneck, True, False  # nothing below the incumbent's bottleneck
    proven = step.status == "optimal"
    # proven optimal (to the engine's tolerances, or its time units): the plan's own value is the bound
    bound = best.bottleneck if proven and best is not None else step.bound_ms
    return best, bound, proven, False


def _first_tier(
    run: Run, arcs: arcset.ArcSet, objective: str, incumbent: Evaluated | None, share: float
) -> tuple[Step, Evaluated | None]:
    """The arc model minimising the objective's first component from the incumbent: (its step, the
    better of its plan and the incumbent)."""
    m = run.model(arcs)
    if objective == "latency":
        m.minimize_latency()
    else:
        m.minimize_bottleneck()
    if incumbent is not None:
        m.hint(incumbent.placement)
    run.method.append(run.engine)
    step = run.solve(m, share)
    found = evaluate(run.p, step.placement) if step.placement is not None else None
    return step, _better(found, incumbent, objective)


def _throughput(run: Run, hints: list[Evaluated], share: float = 1.0) -> Tiers:
    p = run.p
    best, bound, proven, infeasible = _least_bottleneck(run, hints, 0.6 * share)
    if infeasible or best is None:
        return Tiers(None, None, proven, None, False, infeasible=infeasible)
    top = best.bottleneck
    pool = [e for e in hints if e.bottleneck <= top * (1 + 1e-9)] + [best]
    start = min(pool, key=lambda e: e.latency)
    if run.latency_dp() is not None:
        run.method.append("latency-dp")
        try:
            found = run.least_latency(top * (1 + 1e-12))
        except DeadlineExceeded as exc:
            run.notes.append(f"latency tier not solved: {exc}")
            return Tiers(_better(start, best, "throughput"), bound, proven, None, False)
        best = _better(found, start, "throughput") or start
        return Tiers(best, bound, proven, best.latency, True)
    try:
        m = run.model(arcset.build(p, max_bottleneck=top, max_latency=start.latency))
    except (DeadlineExceeded, EngineDeclined) as exc:
        run.notes.append(f"latency tier not solved: {exc}")
        return Tiers(best, bound, proven, None, False)
    m.minimize_latency()
    m.hint(start.placement)
    run.method.append(run.engine)
    best, second_bound, second_proven = _second_tier(
        run, m, best, lambda e: e.bottleneck <= top * (1 + 1e-9), "throughput", share
    )
    return Tiers(best, bound, proven, second_bound, second_proven)


def _second_tier(
    run: Run,
    m: CpArcs | PulpArcs,
    best: Evaluated,
    within: Callable[[Evaluated], bool],
    objective: str,
    share: float,
) -> tuple[Evaluated, float | None, bool]:
    """Solve the second tier's model (the first tier's value fixed by `within`); (plan, bound, proven)."""
    step = run.solve(m, share)
    found = evaluate(run.p, step.placement) if step.placement is not None else None
    if found is not None and within(found):
        best = _better(found, best, objective) or best
    proven = step.status == "optimal"
    value = best.latency if objective == "throughput" else best.bottleneck
    return best, value if proven else step.bound_ms, proven


def _throughput_objective(run: Run) -> ExactOutcome:
    p = run.p
    tiers = _throughput(run, _hints(run.ctx, p))
    return _single(run, tiers, (BOTTLENECK, LATENCY))


def _single(run: Run, tiers: Tiers, names: tuple[str, str]) -> ExactOutcome:
    p = run.p
    if tiers.infeasible:
        out = run.outcome(None, False, None)
        out.infeasible = True
        out.conflicts = memory_conflicts(p)
        return out
    if tiers.best is None:
        return run.outcome(None, False, None)
    bound: dict[str, float | None] = {names[0]: tiers.first_bound, names[1]: None}
    if tiers.first_proven and tiers.first_bound is not None:
        bound[names[1]] = tiers.second_bound
    proven = tiers.first_proven and tiers.second_proven
    return run.outcome(to_stage_plan(p, tiers.best.placement), proven, bound)


# latency ---------------------------------------------------------------------------------------


def _latency(run: Run, hints: list[Evaluated], share: float = 1.0) -> Tiers:
    p = run.p
    incumbent = min(hints, key=lambda e: e.key("latency"), default=None)
    if run.latency_dp() is not None:
        return _latency_by_dp(run, incumbent)
    upper = incumbent.latency if incumbent is not None else math.inf
    step, best = _first_tier(run, arcset.build(p, max_latency=upper), "latency", incumbent, 0.6 * share)
    if step.status == "infeasible":
        if incumbent is None:
            return Tiers(None, None, True, None, False, infeasible=True)
        step = Step("optimal", incumbent.placement, incumbent.latency, step.raw)
    if best is None:
        return Tiers(None, step.bound_ms, False, None, False)
    proven = step.status == "optimal"
    first_bound = best.latency if proven else step.bound_ms
    try:
        m = run.model(arcset.build(p, max_latency=best.latency))  # only arcs a plan within L* can use
    except (DeadlineExceeded, EngineDeclined) as exc:
        run.notes.append(f"bottleneck tier not solved: {exc}")
        return Tiers(best, first_bound, proven, None, False)
    m.cap_latency(best.latency)
    m.minimize_bottleneck()
    m.hint(best.placement)
    cap = best.latency * (1 + 1e-9) + 1e-9
    best, second_bound, second_proven = _second_tier(
        run, m, best, lambda e: e.latency <= cap, "latency", share
    )
    return Tiers(best, first_bound, proven, second_bound, second_proven)


def _latency_by_dp(run: Run, incumbent: Evaluated | None) -> Tiers:
    """The least latency by the DP, then the least bottleneck among plans of that latency: the DP again
    with every stage and cut strictly below the plan's bottleneck, until the latency would grow."""
    run.method.append("latency-dp")
    best: Evaluated | None = None
    try:
        best = run.least_latency(math.inf)
        if best is None:
            return Tiers(None, None, True, None, False, infeasible=True)
        while (e := run.least_latency(best.bottleneck * (1 - 1e-12))) is not None and close(
            e.latency, best.latency
        ):
            best = e
    except DeadlineExceeded as exc:
        run.stopped("latency DP", exc)
        if best is None:
            return Tiers(incumbent, None, False, None, False)
        return Tiers(_better(best, incumbent, "latency"), best.latency, True, None, False)
    chosen = _better(best, incumbent, "latency") or best
    return Tiers(chosen, best.latency, True, chosen.bottleneck, True)


def _latency_objective(run: Run) -> ExactOutcome:
    tiers = _latency(run, _hints(run.ctx, run.p))
    return _single(run, tiers, (LATENCY, BOTTLENECK))


# pareto ----------------------------------------------------------------------------------------


def _pareto(run: Run) -> ExactOutcome:
    p, ctx = run.p, run.ctx
    hints = _hints(ctx, p)
    low = _latency(run, hints, 0.3)
    if low.infeasible:
        return _single(run, low, (LATENCY, BOTTLENECK))
    try:
        high = _throughput(run, hints + ([low.best] if low.best else []), 0.3)
    except DeadlineExceeded as exc:  # the latency end and the baselines are still an answer
        run.notes.append(f"throughput end not solved: {exc}")
        high = Tiers(None, None, False, None, False)
    ends = [e for e in (low.best, high.best) if e is not None]
    if not ends:
        return run.outcome(None, False, None)
    ends_proven = low.first_proven and low.second_proven and high.first_proven and high.second_proven
    points: list[Evaluated] = list(ends)
    complete = False
    explored: float | None = None
    if ends_proven and low.best is not None and high.best is not None:
        a, z = low.best, high.best
        if close(a.bottleneck, z.bottleneck) or a.bottleneck < z.bottleneck:
            complete = True  # one plan is best at both: the front is that point
        else:
            complete, explored, swept = _sweep(run, a, z, hints)
            points += swept
    if not complete:
        floor = explored if explored is not None else (low.best.bottleneck if low.best else math.inf)
        points += [e for e in hints if e.bottleneck < floor]
    front = non_dominated(points)
    plan = to_front(p, front, complete, None if complete else explored)
    if complete:
        return run.outcome(plan, True, None)
    return run.outcome(plan, False, _front_bound(p, low, high, front, explored))


def _sweep(
    run: Run, a: Evaluated, z: Evaluated, hints: list[Evaluated]
) -> tuple[bool, float | None, list[Evaluated]]:
    """Points strictly between the latency end a and the throughput end z; (complete, explored, points)."""
    p = run.p
    if run.latency_dp() is not None:
        return _dp_sweep(run, a, z)
    try:
        m = run.model(arcset.build(p, max_bottleneck=a.bottleneck, max_latency=z.latency))
    except (DeadlineExceeded, EngineDeclined) as exc:
        run.notes.append(f"pareto sweep not run: {exc}")
        return False, a.bottleneck, []
    m.minimize_latency()
    run.method.append(f"{run.engine} sweep")
    points: list[Evaluated] = []
    threshold = a.bottleneck
    pool = sorted(hints + [z], key=lambda e: e.latency)
    while True:
        if run.ctx.deadline.remaining() <= run.ctx.reserve_s or run.nominal_left <= 0:
            return False, threshold, points
        m.forbid(threshold)
        below = [e for e in pool if e.bottleneck < threshold * (1 - 1e-12)]
        if below:
            m.hint(below[0].placement)
        step = run.solve(m)
        if step.status == "infeasible":
            return True, None, points  # nothing strictly below the threshold: z was the last point
        if step.status != "optimal" or step.placement is None:
            return False, threshold, points
        e = evaluate(p, step.placement)
        if close(e.bottleneck, z.bottleneck) or e.bottleneck < z.bottleneck:
            return True, None, points
        points.append(e)
        threshold = e.bottleneck


def _dp_sweep(run: Run, a: Evaluated, z: Evaluated) -> tuple[bool, float | None, list[Evaluated]]:
    """The sweep with the latency DP as each step (exact: every point it returns is Pareto-optimal)."""
    ctx = run.ctx
    run.method.append("latency-dp sweep")
    points: list[Evaluated] = []
    threshold = a.bottleneck
    try:
        while True:
            if ctx.deadline.remaining() <= ctx.reserve_s or run.nominal_left <= 0:
                return False, threshold, points
            e = run.least_latency(threshold * (1 - 1e-12))  # strictly below the last point's bottleneck
            if e is None or close(e.bottleneck, z.bottleneck) or e.bottleneck < z.bottleneck:
                return True, None, points
            if points and close(e.latency, points[-1].latency):
                points.pop()  # same latency, smaller bottleneck: the one before was dominated
            points.append(e)
            threshold = e.bottleneck
    except DeadlineExceeded:
        return False, threshold, points


def _front_bound(
    p: Problem, low: Tiers, high: Tiers, front: list[Evaluated], explored: float | None
) -> dict[str, float | None]:
    """Lower bounds of the two ends, and the hypervolume of the front found plus everything an unseen point
    could add: such a point has a bottleneck below the explored range (>= the throughput bound) and a
    latency no less than the last proven point's."""
    b_low = high.first_bound if high.first_bound is not None else 0.0
    l_low = low.first_bound if low.first_bound is not None else 0.0
    proven = [e for e in front if explored is None or e.bottleneck >= explored]
    last_latency = min((e.latency for e in proven), default=l_low)
    ideal = (b_low, max(l_low, last_latency) if explored is not None else l_low)
    pts = [(e.bottleneck, e.latency) for e in front] + [ideal]
    return {BOTTLENECK: b_low, LATENCY: l_low, HYPERVOLUME: hypervolume(pts, p.reference_ms)}
