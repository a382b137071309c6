"""Schedule generation schemes: the serial SGS forward (each task as early as possible, in priority
order among the tasks whose predecessors are placed) and backward (as late as possible), with the modes
chosen greedily or fixed. Every rule of the instance is respected: lags, releases, calendars, disjunctive
sets (rows of capacity 1), non-renewable budgets (a mode is taken only if the tasks still to place can
keep to the budget in their cheapest modes). The forward pass does not search for deadlines: a schedule
that misses one is returned as it is (the checker says so); the backward pass keeps them or gives up.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from solver.workflow.problem import Problem
from solver.workflow.profile import Profile


@dataclass
class Schedule:
    start: list[int]
    mode: list[int]

    def ends(self, p: Problem) -> list[int]:
        return [
            s + p.modes[j][m].duration for j, (s, m) in enumerate(zip(self.start, self.mode, strict=True))
        ]

    def makespan(self, p: Problem) -> int:
        return max(self.ends(p), default=0)


def _distinct(links: list[tuple[int, int]]) -> int:
    return len({i for i, _ in links})


def forward(p: Problem, priority: Sequence[float], modes: Sequence[int] | None = None) -> Schedule:
    """Serial SGS: repeatedly place the eligible task of lowest priority value (ties: topological
    position) at its earliest feasible start; in its given mode, or the mode that finishes first."""
    n = p.n
    pos = {j: k for k, j in enumerate(p.topo)}
    left = [_distinct(p.preds[j]) for j in range(n)]
    heap = [(priority[j], pos[j], j) for j in range(n) if left[j] == 0]
    heapq.heapify(heap)
    prof = p.base_profile()
    start = [0] * n
    mode = [0] * n
    end = [0] * n
    used = np.zeros(len(p.budget), dtype=np.int64)
    reserve = _min_use(p) if modes is None and len(p.budget) else None
    rest = reserve.sum(axis=0) if reserve is not None else None
    while heap:
        _, _, j = heapq.heappop(heap)
        est = p.release[j]
        for i, lag in p.preds[j]:
            est = max(est, end[i] + lag)
        if modes is not None:
            m = modes[j]
            md = p.modes[j][m]
            s = prof.earliest(est, md.duration, md.rows, md.dem)
            s = est if s is None else s
        else:
            m, s = _choose_mode(p, j, est, prof, used, reserve, rest)
            md = p.modes[j][m]
        start[j], mode[j], end[j] = s, m, s + md.duration
        prof.reserve(s, md.duration, md.rows, md.dem)
        if len(p.budget):
            used += md.use
            if rest is not None and reserve is not None:
                rest -= reserve[j]
        seen: set[int] = set()
        for k, _ in p.succs[j]:
            if k not in seen:
                seen.add(k)
                left[k] -= 1
                if left[k] == 0:
                    heapq.heappush(heap, (priority[k], pos[k], k))
    return Schedule(start, mode)


def _min_use(p: Problem) -> np.ndarray:
    """[n, K]: each task's least use of each non-renewable resource over its fitting modes."""
    out = np.zeros((p.n, len(p.budget)), dtype=np.int64)
    for j in range(p.n):
        fit = [md.use for md in p.modes[j] if md.fits] or [md.use for md in p.modes[j]]
        out[j] = np.min(np.array(fit), axis=0)
    return out


def _choose_mode(
    p: Problem,
    j: int,
    est: int,
    prof: Profile,
    used: np.ndarray,
    reserve: np.ndarray | None,
    rest: np.ndarray | None,
) -> tuple[int, int]:
    """The mode that finishes first among those the budgets allow (then the cheaper, then the one that
    holds less, then the lower index); when none is allowed, the one that overdraws least (the checker
    will say so)."""
    modes = p.modes[j]
    if len(modes) == 1:
        md = modes[0]
        s = prof.earliest(est, md.duration, md.rows, md.dem)
        return 0, est if s is None else s
    best: tuple[tuple[float, ...], int, int] | None = None
    for m, md in enumerate(modes):
        if not md.fits:
            continue
        over = 0
        if rest is not None and reserve is not None:
            after = used + md.use + rest - reserve[j]
            over = int(np.maximum(after - p.budget, 0).sum())
        s = prof.earliest(est, md.duration, md.rows, md.dem)
        if s is None:
            continue
        key = (over, s + md.duration, md.cost, md.work)
        if best is None or key < best[0]:
            best = (key, m, s)
    if best is None:  # no mode fits at all: infeasible() refuses such instances before any heuristic
        m = int(np.argmin([md.duration for md in modes]))
        return m, est
    return best[1], best[2]


def backward(p: Problem, sched: Schedule, horizon: int) -> Schedule | None:
    """Serial SGS in reverse with the modes fixed: latest end first, each task as late as its placed
    successors, its deadline and the horizon allow. None when a task cannot be placed after its release."""
    n = p.n
    ends = sched.ends(p)
    pos = {j: k for k, j in enumerate(p.topo)}
    left = [_distinct(p.succs[j]) for j in range(n)]
    heap = [(-ends[j], -pos[j], j) for j in range(n) if left[j] == 0]
    heapq.heapify(heap)
    prof = p.base_profile()
    start = [0] * n
    while heap:
        _, _, j = heapq.heappop(heap)
        md = p.modes[j][sched.mode[j]]
        lft = min(horizon, p.deadline[j])
        for k, lag in p.succs[j]:
            lft = min(lft, start[k] - lag)
        s = prof.latest(lft, md.duration, md.rows, md.dem, p.release[j])
        if s is None:
            return None
        start[j] = s
        prof.reserve(s, md.duration, md.rows, md.dem)
        seen: set[int] = set()
        for i, _ in p.preds[j]:
            if i not in seen:
                seen.add(i)
                left[i] -= 1
                if left[i] == 0:
                    heapq.heappush(heap, (-ends[i], -pos[i], i))
    return Schedule(start, list(sched.mode))


def left_justify(p: Problem, sched: Schedule) -> Schedule:
    """Each task as early as the tasks placed before it (in start order) allow, modes kept, closing the
    gaps an exact engine leaves. With lags >= 0 no task can end later, so no regular objective gets
    worse; a negative lag may force a successor before its predecessor in start order, so the result is
    kept only when no task ends later than it did."""
    justified = forward(p, [float(x) for x in sched.start], sched.mode)
    later = any(a > b for a, b in zip(justified.ends(p), sched.ends(p), strict=True))
    return sched if later else justified
