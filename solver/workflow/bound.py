"""A cheap valid lower bound: the critical path and the resource energy, whichever is larger.

Critical path: each task's earliest finish over its modes given releases, predecessors with their lags
and the calendars (problem.forward). Energy: the work a resource row must carry (per task, the least
duration x demand over its modes) cannot be done before the calendar-aware capacity integrated from the
earliest start of any task that needs it has reached it. A heuristic schedule that meets the bound is
optimal without any search. The weighted objectives get the same per-task earliest finishes: each task
is at least that tardy, and completes at least that late.
"""

from __future__ import annotations

from models.workflow import MAKESPAN
from solver.workflow.problem import Problem


def energy_needed(p: Problem, q: int) -> tuple[int, int]:
    """(least total duration x demand on row q, earliest start of any task that needs it)."""
    work = 0
    first = -1
    for j in range(p.n):
        fit = [md for md in p.modes[j] if md.fits]
        least = min((md.duration * int(md.dem[q]) for md in fit), default=0)
        if least > 0:
            work += least
            first = p.fwd.es[j] if first < 0 else min(first, p.fwd.es[j])
    return work, max(first, 0)


def capacity_segments(p: Problem, q: int) -> list[tuple[int, int, int]]:
    """(start, end, capacity) of row q over time, the last segment open-ended (end = -1)."""
    segs: list[tuple[int, int, int]] = []
    t = 0
    for row, start, end, capacity in p.windows:
        if row != q:
            continue
        if start > t:
            segs.append((t, start, int(p.cap[q])))
        segs.append((start, end, capacity))
        t = end
    segs.append((t, -1, int(p.cap[q])))
    return segs


def energy_bound(p: Problem, q: int) -> int:
    """The least T by which row q can have carried its work, starting no earlier than its first task."""
    work, first = energy_needed(p, q)
    if work == 0:
        return 0
    left = work
    for start, end, capacity in capacity_segments(p, q):
        lo = max(start, first)
        if end != -1 and end <= lo:
            continue
        if end == -1:
            if capacity <= 0:
                return -1  # never enough: a demand above the base capacity, refused by infeasible.py
            return lo + -(-left // capacity)
        room = capacity * (end - lo)
        if room >= left:
            return lo + -(-left // capacity) if capacity else end
        left -= room
    return -1


def makespan_bound(p: Problem) -> int:
    best = max(p.fwd.ef, default=0)
    for q in range(p.n_rows):
        best = max(best, energy_bound(p, q))
    return best


def cheap_bound(p: Problem) -> dict[str, float | None]:
    ms = float(makespan_bound(p))
    if p.objective == MAKESPAN:
        return {MAKESPAN: ms}
    ef = p.fwd.ef
    if p.objective == "weighted_tardiness":
        value = sum(w * max(0, f - d) for f, d, w in zip(ef, p.due, p.weight, strict=True) if d is not None)
    else:
        value = sum(w * f for f, w in zip(ef, p.weight, strict=True))
    return {p.objective: float(value), MAKESPAN: ms}
