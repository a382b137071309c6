"""Exhaustive search for tiny workflow instances, written apart from the solver.

For a regular objective (non-decreasing in every end time) and lags >= 0, a feasible schedule can be
rebuilt by placing its tasks in start order, each at the earliest time the ones already placed allow:
no task ends later, so nothing breaks and the objective cannot get worse. Every optimum is therefore
matched by one of these "earliest in some order" schedules, and trying every precedence-feasible order
with every mode vector finds it. Plain lists of capacity per period, no solver code.
"""

from __future__ import annotations

import itertools
from typing import Any

from models.workflow import WorkflowInstance

Objective = dict[str, float]


def _objective(inst: WorkflowInstance, ends: dict[str, int]) -> Objective:
    makespan = float(max(ends.values(), default=0))
    if inst.objective == "makespan":
        return {"makespan": makespan}
    if inst.objective == "weighted_tardiness":
        value = sum(t.weight * max(0, ends[t.id] - t.due) for t in inst.tasks if t.due is not None)
    else:
        value = sum(t.weight * ends[t.id] for t in inst.tasks)
    return {inst.objective: float(value), "makespan": makespan}


def _place(
    inst: WorkflowInstance, order: tuple[int, ...], modes: tuple[int, ...], horizon: int
) -> dict[str, int] | None:
    tasks = inst.tasks
    free = {}
    for r in inst.resources:
        line = [r.capacity] * horizon
        for w in r.calendar:
            for t in range(w.start, min(w.end, horizon)):
                line[t] = w.capacity
        free[r.name] = line
    busy: dict[int, list[tuple[int, int]]] = {s: [] for s in range(len(inst.disjunctive))}
    sets_of = {t.id: [s for s, members in enumerate(inst.disjunctive) if t.id in members] for t in tasks}
    end: dict[str, int] = {}
    spent: dict[str, int] = {r.name: 0 for r in inst.nonrenewable}
    for j in order:
        task, mode = tasks[j], tasks[j].modes[modes[j]]
        for name in spent:
            spent[name] += mode.demands.get(name, 0)
        est = max([task.release] + [end[p.task] + p.min_lag for p in task.predecessors])
        d = mode.duration
        start = est
        while True:
            if start + d > horizon:
                return None
            ok = all(
                free[name][t] >= amount
                for name, amount in mode.demands.items()
                if name in free and amount > 0
                for t in range(start, start + d)
            ) and all(not (d and s < start + d and start < e) for q in sets_of[task.id] for s, e in busy[q])
            if ok:
                break
            start += 1
        for name, amount in mode.demands.items():
            if name in free:
                for t in range(start, start + d):
                    free[name][t] -= amount
        for q in sets_of[task.id]:
            busy[q].append((start, start + d))
        end[task.id] = start + d
        if task.deadline is not None and end[task.id] > task.deadline:
            return None
    if any(spent[r.name] > r.budget for r in inst.nonrenewable):
        return None
    return end


def best_objective(inst: WorkflowInstance) -> Objective | None:
    """The lexicographic optimum over all schedules, or None when none exists."""
    assert all(p.min_lag >= 0 for t in inst.tasks for p in t.predecessors)
    index = {t.id: j for j, t in enumerate(inst.tasks)}
    preds = [{index[p.task] for p in t.predecessors} for t in inst.tasks]
    horizon = (
        max([t.release for t in inst.tasks] + [w.end for r in inst.resources for w in r.calendar])
        + sum(max(m.duration for m in t.modes) for t in inst.tasks)
        + sum(p.min_lag for t in inst.tasks for p in t.predecessors)
        + 1
    )
    best: Objective | None = None
    key: Any = None
    n = len(inst.tasks)
    for order in itertools.permutations(range(n)):
        pos = {j: k for k, j in enumerate(order)}
        if any(pos[i] > pos[j] for j in range(n) for i in preds[j]):
            continue
        for modes in itertools.product(*(range(len(t.modes)) for t in inst.tasks)):
            ends = _place(inst, order, modes, horizon)
            if ends is None:
                continue
            obj = _objective(inst, ends)
            k = tuple(obj.values())
            if key is None or k < key:
                best, key = obj, k
    return best
