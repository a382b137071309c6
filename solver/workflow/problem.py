"""A validated workflow instance as arrays, and the time windows every stage reads.

Resource rows: the renewable resources first (their capacity and calendar), then one capacity-1 row
per disjunctive set in which each member needs 1, so that "no two of these at once" is capacity like
any other for the heuristics and the time-indexed model (CP-SAT gets a no_overlap instead).

Time windows (critical path method, calendar-aware): `es` is the earliest start of each task over its
modes given releases, predecessors with lags and the calendars of the resources it needs; `ef` its
earliest finish, and `es_why` what binds each earliest start, so that infeasibility can name the
chain. `backward(horizon)` gives latest finishes and starts under the deadlines and a horizon.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from models.workflow import MAKESPAN, WorkflowInstance
from solver.workflow.profile import Profile

INF = 1 << 60


@dataclass
class ModeData:
    duration: int
    dem: np.ndarray  # [Q] per resource row (renewable resources, then disjunctive sets)
    use: np.ndarray  # [K] per non-renewable resource
    rows: np.ndarray  # rows with a positive demand (empty when the duration is 0)
    fits: bool  # every demand within the base capacity and every use within the budget
    work: float = 0.0  # duration x demand / capacity, summed over the rows
    cost: int = 0  # total use of the non-renewable resources


@dataclass
class Why:
    """What sets a task's earliest start: its release, a predecessor, or a calendar window."""

    kind: str  # release | pred | calendar
    other: int = -1  # the predecessor's index, or the resource row whose calendar binds
    lag: int = 0


@dataclass
class Windows:
    es: list[int]
    ef: list[int]
    es_why: list[Why]


@dataclass
class Backward:
    horizon: int
    lf: list[int]  # latest finish
    ls: list[int]  # latest start over the modes (-INF when no mode fits before the latest finish)


@dataclass
class Problem:
    inst: WorkflowInstance
    ids: list[str]
    index: dict[str, int]
    res_names: list[str]
    set_names: list[str]
    cap: np.ndarray  # [Q]
    windows: list[tuple[int, int, int, int]]  # (row, start, end, capacity) of renewable calendars
    nr_names: list[str]
    budget: np.ndarray  # [K]
    modes: list[list[ModeData]]
    preds: list[list[tuple[int, int]]]  # (predecessor, lag)
    succs: list[list[tuple[int, int]]]  # (successor, lag)
    topo: list[int]
    release: list[int]
    deadline: list[int]  # INF when none
    due: list[int | None]
    weight: list[int]
    sets: list[list[int]]
    objective: str
    dmin: list[int]  # least duration over the modes that fit
    safe_horizon: int
    fwd: Windows = field(init=False)
    calendar_rows: list[int] = field(init=False)

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def n_rows(self) -> int:
        return len(self.cap)

    @property
    def n_res(self) -> int:
        return len(self.res_names)

    def fitting(self, j: int) -> list[int]:
        return [m for m, md in enumerate(self.modes[j]) if md.fits]

    def base_profile(self) -> Profile:
        return Profile(self.cap, self.windows)

    def row_name(self, q: int) -> str:
        return self.res_names[q] if q < self.n_res else self.set_names[q - self.n_res]

    def backward(self, horizon: int) -> Backward:
        return backward(self, horizon)


def build(inst: WorkflowInstance) -> Problem:
    ids = [t.id for t in inst.tasks]
    index = {tid: i for i, tid in enumerate(ids)}
    res_names = [r.name for r in inst.resources]
    set_names = [f"disjunctive[{s}]" for s in range(len(inst.disjunctive))]
    n_res, n_sets = len(res_names), len(set_names)
    cap = np.array([r.capacity for r in inst.resources] + [1] * n_sets, dtype=np.int64)
    windows = [
        (q, w.start, w.end, w.capacity)
        for q, r in enumerate(inst.resources)
        for w in sorted(r.calendar, key=lambda w: w.start)
        if w.capacity < r.capacity
    ]
    nr_names = [r.name for r in inst.nonrenewable]
    budget = np.array([r.budget for r in inst.nonrenewable], dtype=np.int64)
    row_of = {name: q for q, name in enumerate(res_names)}
    nr_of = {name: k for k, name in enumerate(nr_names)}
    sets = [[index[t] for t in members] for members in inst.disjunctive]
    in_sets: list[list[int]] = [[] for _ in ids]
    for s, members in enumerate(sets):
        for j in members:
            in_sets[j].append(n_res + s)
    modes: list[list[ModeData]] = []
    for j, task in enumerate(inst.tasks):
        out = []
        for mode in task.modes:
            dem = np.zeros(n_res + n_sets, dtype=np.int64)
            use = np.zeros(len(nr_names), dtype=np.int64)
            for name, amount in mode.demands.items():
                if name in row_of:
                    dem[row_of[name]] = amount
                else:
                    use[nr_of[name]] = amount
            for q in in_sets[j]:
                dem[q] = 1
            fits = bool(np.all(dem <= cap) and np.all(use <= budget))
            rows = np.flatnonzero(dem) if mode.duration > 0 else np.zeros(0, dtype=np.int64)
            work = float((dem * mode.duration / np.maximum(cap, 1)).sum())
            out.append(ModeData(mode.duration, dem, use, rows, fits, work, int(use.sum())))
        modes.append(out)
    preds: list[list[tuple[int, int]]] = [[] for _ in ids]
    succs: list[list[tuple[int, int]]] = [[] for _ in ids]
    for j, task in enumerate(inst.tasks):
        for p in task.predecessors:
            i = index[p.task]
            preds[j].append((i, p.min_lag))
            succs[i].append((j, p.min_lag))
    topo = _topological(preds, succs)
    dmin = [min(m.duration for m in (_fit(ms) or ms)) for ms in modes]
    dmax = [max(m.duration for m in (_fit(ms) or ms)) for ms in modes]
    cal_end = max((w[2] for w in windows), default=0)
    lags = sum(max(0, lag) for ps in preds for _, lag in ps)
    t0 = max(max(t.release for t in inst.tasks), cal_end)
    prob = Problem(
        inst=inst,
        ids=ids,
        index=index,
        res_names=res_names,
        set_names=set_names,
        cap=cap,
        windows=windows,
        nr_names=nr_names,
        budget=budget,
        modes=modes,
        preds=preds,
        succs=succs,
        topo=topo,
        release=[t.release for t in inst.tasks],
        deadline=[INF if t.deadline is None else t.deadline for t in inst.tasks],
        due=[t.due for t in inst.tasks],
        weight=[t.weight for t in inst.tasks],
        sets=sets,
        objective=inst.objective,
        dmin=dmin,
        # An active schedule (each task as early as the ones placed before it allow) starts every task
        # by the time all earlier ones ended, after every release and calendar window: so some optimal
        # schedule of a regular objective ends by this, if any schedule exists.
        safe_horizon=t0 + sum(dmax) + lags,
    )
    prob.calendar_rows = sorted({w[0] for w in windows})
    prob.fwd = forward(prob)
    return prob


def _fit(modes: list[ModeData]) -> list[ModeData]:
    return [m for m in modes if m.fits]


def _topological(preds: list[list[tuple[int, int]]], succs: list[list[tuple[int, int]]]) -> list[int]:
    indeg = [len({i for i, _ in ps}) for ps in preds]
    heap = [j for j, d in enumerate(indeg) if d == 0]
    heapq.heapify(heap)
    out: list[int] = []
    while heap:
        i = heapq.heappop(heap)
        out.append(i)
        for j in {j for j, _ in succs[i]}:
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(heap, j)
    return out


def forward(p: Problem) -> Windows:
    base = p.base_profile()
    es = [0] * p.n
    ef = [0] * p.n
    why = [Why("release")] * p.n
    for j in p.topo:
        est, reason = p.release[j], Why("release")
        for i, lag in p.preds[j]:
            if ef[i] + lag > est:
                est, reason = ef[i] + lag, Why("pred", i, lag)
        best_s, best_f = INF, INF
        for md in p.modes[j]:
            if not md.fits:
                continue
            s = base.earliest(est, md.duration, md.rows, md.dem) if _on_calendar(p, md) else est
            if s is None:
                continue
            best_s, best_f = min(best_s, s), min(best_f, s + md.duration)
        if best_s == INF:  # no mode fits: infeasible, reported by infeasible.py
            best_s, best_f = est, est + p.dmin[j]
        elif best_s > est:
            q = _blocking_row(p, j, est)
            reason = Why("calendar", q)
        es[j], ef[j], why[j] = best_s, best_f, reason
    return Windows(es, ef, why)


def _on_calendar(p: Problem, md: ModeData) -> bool:
    """Whether the mode needs a resource whose calendar lowers its capacity somewhere."""
    return bool(p.windows) and any(md.dem[q] > 0 for q in p.calendar_rows) and md.duration > 0


def _blocking_row(p: Problem, j: int, t: int) -> int:
    """The renewable resource whose calendar keeps task j from starting at t (in its first mode)."""
    md = next(md for md in p.modes[j] if md.fits)
    for q, start, end, capacity in p.windows:
        if md.dem[q] > capacity and start < t + md.duration and t < end:
            return q
    return int(md.rows[0]) if len(md.rows) else -1


def backward(p: Problem, horizon: int) -> Backward:
    base = p.base_profile()
    lf = [0] * p.n
    ls = [0] * p.n
    for j in reversed(p.topo):
        lft = min(horizon, p.deadline[j])
        for s, lag in p.succs[j]:
            lft = min(lft, ls[s] - lag)
        best = -INF
        for md in p.modes[j]:
            if not md.fits:
                continue
            if _on_calendar(p, md):
                start = base.latest(lft, md.duration, md.rows, md.dem, p.release[j])
            else:
                start = lft - md.duration if lft - md.duration >= p.release[j] else None
            if start is not None:
                best = max(best, start)
        lf[j], ls[j] = lft, best
    return Backward(horizon, lf, ls)


def horizon_for(p: Problem, incumbent_makespan: int | None) -> int:
    """Latest end any schedule worth finding needs: the incumbent's makespan bounds it when the
    objective is the makespan; other objectives may gain from a longer schedule."""
    if p.objective == MAKESPAN and incumbent_makespan is not None:
        return min(incumbent_makespan, p.safe_horizon)
    return p.safe_horizon
