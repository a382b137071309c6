"""For every task a plan finishes after its due date, what kept it from starting earlier, with numbers:
its release, a predecessor (its end and the lag), or a resource at the moment it would have needed it
(the capacity there, calendar included, and the tasks holding it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.common import Explanation
from models.workflow import WorkflowPlan
from solver.workflow.plans import from_plan
from solver.workflow.problem import Problem
from solver.workflow.sgs import Schedule

MAX_EXPLAINED = 20
CHAIN_DEPTH = 8
SHOWN = 5
MAX_MOMENTS = 1000  # moments looked at per task, earliest first (each an [n] row of booleans)


@dataclass
class _Usage:
    """The plan as arrays: each task's start, end and demand per resource row in its chosen mode."""

    start: np.ndarray  # [n]
    end: np.ndarray  # [n]
    dem: np.ndarray  # [n, Q], zero for tasks of duration 0

    @classmethod
    def of(cls, p: Problem, sched: Schedule, ends: list[int]) -> _Usage:
        dem = np.zeros((p.n, p.n_rows), dtype=np.int64)
        for j in range(p.n):
            md = p.modes[j][sched.mode[j]]
            if md.duration > 0:
                dem[j] = md.dem
        return cls(np.array(sched.start, dtype=np.int64), np.array(ends, dtype=np.int64), dem)


def explain(p: Problem, plan: WorkflowPlan) -> list[Explanation]:
    sched = from_plan(p, plan)
    ends = sched.ends(p)
    usage = _Usage.of(p, sched, ends)
    late = [(p.weight[j] * (ends[j] - d), j) for j, d in enumerate(p.due) if d is not None and ends[j] > d]
    late.sort(key=lambda x: (-x[0], x[1]))
    out = []
    for _, j in late[:MAX_EXPLAINED]:
        due = p.due[j]
        assert due is not None
        constraint, why, data = cause(p, sched, ends, usage, j)
        out.append(
            Explanation(
                item=p.ids[j],
                constraint=constraint,
                message=f"task {p.ids[j]} ends at {ends[j]}, {ends[j] - due} after its due date {due} "
                f"(weight {p.weight[j]}): {why}",
                data={"end": ends[j], "due": due, "tardiness": ends[j] - due, **data},
            )
        )
    if len(late) > MAX_EXPLAINED:
        rest = late[MAX_EXPLAINED:]
        out.append(
            Explanation(
                item="tardy tasks",
                constraint="due",
                message=f"{len(rest)} more tasks end after their due dates "
                f"(weighted tardiness {sum(w for w, _ in rest)}), not detailed",
                data={"tasks": [p.ids[j] for _, j in rest]},
            )
        )
    return out


def cause(p: Problem, sched: Schedule, ends: list[int], usage: _Usage, j: int) -> tuple[str, str, dict]:
    """What keeps j from starting earlier, followed back through the predecessors it waits for to what
    holds the first of them (a resource, a release, a calendar), at most CHAIN_DEPTH links deep."""
    constraint, why, data = blocker(p, sched, ends, usage, j)
    if constraint != "precedence":
        return constraint, why, data
    links: list[str] = []
    via: list[str] = []
    k = j
    while constraint == "precedence" and len(via) < CHAIN_DEPTH:
        k = p.index[data["predecessor"]]
        via.append(p.ids[k])
        lag = f" + lag {data['lag']}" if data["lag"] else ""
        links.append(f"{p.ids[k]} (ends at {ends[k]}{lag})")
        constraint, why, data = blocker(p, sched, ends, usage, k)
    text = "it waits for " + " <- ".join(links)
    if constraint != "precedence":
        text += f"; {p.ids[k]} " + (why[3:] if why.startswith("it ") else f"is held: {why}")
    if constraint == "release" and p.release[k] == 0:
        constraint = "precedence"  # a chain of predecessors from time 0: the critical path itself
    return constraint, text, {**data, "via": via}


def blocker(p: Problem, sched: Schedule, ends: list[int], usage: _Usage, j: int) -> tuple[str, str, dict]:
    """Why task j starts when it does and not one period earlier."""
    s = sched.start[j]
    md = p.modes[j][sched.mode[j]]
    if s <= p.release[j]:
        return (
            "release",
            f"it starts at its release {p.release[j]} and lasts {md.duration}",
            {"release": p.release[j], "duration": md.duration},
        )
    for i, lag in p.preds[j]:
        if ends[i] + lag == s:
            lag_text = f" + lag {lag}" if lag else ""
            return (
                "precedence",
                f"it waits for predecessor {p.ids[i]}, which ends at {ends[i]}{lag_text}",
                {"predecessor": p.ids[i], "predecessor_end": ends[i], "lag": lag},
            )
    if md.duration > 0 and len(md.rows):
        # starting at s - 1 it would run [s - 1, s - 1 + d): usage and capacity change only where a task
        # starts or a calendar window starts, so those are the moments to look at
        lo, hi = s - 1, s - 1 + md.duration
        moments = {lo} | {int(t) for t in usage.start[(usage.start > lo) & (usage.start < hi)]}
        moments |= {w[1] for w in p.windows if lo < w[1] < hi}
        at = np.array(sorted(moments)[:MAX_MOMENTS], dtype=np.int64)
        active = (usage.start[None, :] <= at[:, None]) & (at[:, None] < usage.end[None, :])  # [U, n]
        active[:, j] = False
        for u_idx, u in enumerate(at.tolist()):
            for q in md.rows.tolist():
                holders = np.flatnonzero(active[u_idx] & (usage.dem[:, q] > 0)).tolist()
                used = int(usage.dem[holders, q].sum())
                cap = _capacity(p, q, u)
                if used + md.dem[q] > cap:
                    return _resource_text(p, sched, ends, j, q, u, holders, used, cap)
    return (
        "schedule",
        f"it could start at {s - 1}; the plan keeps it at {s} (not left-justified)",
        {"start": s},
    )


def _capacity(p: Problem, q: int, u: int) -> int:
    for row, start, end, capacity in p.windows:
        if row == q and start <= u < end:
            return capacity
    return int(p.cap[q])


def _resource_text(
    p: Problem,
    sched: Schedule,
    ends: list[int],
    j: int,
    q: int,
    u: int,
    holders: list[int],
    used: int,
    cap: int,
) -> tuple[str, str, dict]:
    name = p.row_name(q)
    need = int(p.modes[j][sched.mode[j]].dem[q])
    data = {"resource": name, "capacity": cap, "needs": need, "at": u, "held_by": [p.ids[k] for k in holders]}
    if cap < int(p.cap[q]) and used + need > cap and used + need <= int(p.cap[q]):
        win = next((s, e) for row, s, e, _ in p.windows if row == q and s <= u < e)
        return (
            "calendar",
            f"resource {name} has capacity {cap} in [{win[0]}, {win[1]}) (calendar) and it needs {need}"
            + (f" beside {used} in use" if used else ""),
            data,
        )
    if not holders:
        return "capacity", f"resource {name} has capacity {cap} at {u}; it needs {need}", data
    lo = max(sched.start[k] for k in holders)
    hi = min(ends[k] for k in holders)
    who = ", ".join(p.ids[k] for k in holders[:SHOWN]) + (
        f" and {len(holders) - SHOWN} more" if len(holders) > SHOWN else ""
    )
    if q >= p.n_res:
        return "disjunctive", f"it waits for {who} in {name} (runs [{lo}, {hi}))", data
    return (
        "capacity",
        f"it waits for resource {name}: capacity {cap}, tasks {who} use {used} in [{lo}, {hi}); "
        f"it needs {need}",
        data,
    )
