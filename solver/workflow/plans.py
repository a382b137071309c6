"""Between schedules (start and mode per task index) and plans (the public WorkflowPlan): the objective,
the usage profile, non-renewable consumption and the critical chain."""

from __future__ import annotations

from collections import defaultdict

from models.workflow import MAKESPAN, ScheduledTask, WorkflowPlan
from solver.engine.objective import Senses
from solver.workflow.problem import Problem
from solver.workflow.sgs import Schedule


def senses(p: Problem) -> Senses:
    """The chosen objective first, then the makespan (alone when the makespan is the objective)."""
    if p.objective == MAKESPAN:
        return {MAKESPAN: "min"}
    return {p.objective: "min", MAKESPAN: "min"}


def evaluate(p: Problem, sched: Schedule) -> dict[str, float]:
    ends = sched.ends(p)
    makespan = float(max(ends, default=0))
    if p.objective == MAKESPAN:
        return {MAKESPAN: makespan}
    if p.objective == "weighted_tardiness":
        value = sum(w * max(0, e - d) for e, d, w in zip(ends, p.due, p.weight, strict=True) if d is not None)
    else:
        value = sum(w * e for e, w in zip(ends, p.weight, strict=True))
    return {p.objective: float(value), MAKESPAN: makespan}


def from_plan(p: Problem, plan: WorkflowPlan) -> Schedule:
    start = [0] * p.n
    mode = [0] * p.n
    for t in plan.tasks:
        j = p.index[t.id]
        start[j], mode[j] = t.start, t.mode
    return Schedule(start, mode)


def to_plan(p: Problem, sched: Schedule) -> WorkflowPlan:
    ends = sched.ends(p)
    # built from values computed here, not parsed: skip validation (1000 tasks: 5 ms instead of 40)
    tasks = [
        ScheduledTask.model_construct(id=p.ids[j], start=sched.start[j], end=ends[j], mode=sched.mode[j])
        for j in range(p.n)
    ]
    consumed = {name: 0 for name in p.nr_names}
    for j in range(p.n):
        md = p.modes[j][sched.mode[j]]
        for k, name in enumerate(p.nr_names):
            consumed[name] += int(md.use[k])
    return WorkflowPlan.model_construct(
        tasks=tasks,
        profile=usage_profile(p, sched),
        consumed=consumed,
        critical_chain=[p.ids[j] for j in critical_chain(p, sched)],
    )


def usage_profile(p: Problem, sched: Schedule) -> dict[str, list[tuple[int, int]]]:
    out: dict[str, list[tuple[int, int]]] = {}
    for q, name in enumerate(p.res_names):
        delta: dict[int, int] = defaultdict(int)
        for j in range(p.n):
            md = p.modes[j][sched.mode[j]]
            if md.duration > 0 and md.dem[q] > 0:
                delta[sched.start[j]] += int(md.dem[q])
                delta[sched.start[j] + md.duration] -= int(md.dem[q])
        points = [(0, 0)]
        level = 0
        for t in sorted(delta):
            level += delta[t]
            if t == 0:
                points[0] = (0, level)
            elif level != points[-1][1]:
                points.append((t, level))
        out[name] = points
    return out


def critical_chain(p: Problem, sched: Schedule) -> list[int]:
    """From a task that ends last, back through tasks that end exactly when the next one starts: a
    predecessor (its end plus the lag), or a task holding a resource row the next one needs."""
    if not p.n:
        return []
    ends = sched.ends(p)
    last = max(range(p.n), key=lambda j: (ends[j], -j))
    by_end: dict[int, list[int]] = defaultdict(list)
    for k in range(p.n):
        if p.modes[k][sched.mode[k]].duration > 0:
            by_end[ends[k]].append(k)
    chain = [last]
    seen = {last}
    j = last
    while True:
        s = sched.start[j]
        nxt = next((i for i, lag in p.preds[j] if ends[i] + lag == s and i not in seen), None)
        if nxt is None:
            rows = p.modes[j][sched.mode[j]].rows
            preds = {i for i, _ in p.preds[j]}  # a predecessor links by its lag, never as a resource
            if len(rows):
                for k in by_end.get(s, ()):
                    if k not in seen and k not in preds and (p.modes[k][sched.mode[k]].dem[rows] > 0).any():
                        nxt = k
                        break
        if nxt is None:
            break
        chain.append(nxt)
        seen.add(nxt)
        j = nxt
    chain.reverse()
    return chain
