"""The oracle: is a workflow plan feasible, and what is its objective? From the instance and plan alone.

Deliberately shares no code with the heuristics or the formulations (not the prepared arrays, not the
profile, not the time windows): every rule of the contract is re-derived from the models here, with
plain loops over event points, so a bug there cannot hide here.
"""

from __future__ import annotations

from collections import defaultdict

from models.workflow import Mode, Task, WorkflowInstance, WorkflowPlan
from solver.engine.family import CheckReport


def check(inst: WorkflowInstance, plan: WorkflowPlan) -> CheckReport:
    v: list[str] = []
    tasks = {t.id: t for t in inst.tasks}
    renewable = {r.name: r for r in inst.resources}
    budgets = {r.name: r.budget for r in inst.nonrenewable}
    placed: dict[str, tuple[int, int, Mode]] = {}  # id -> (start, end, mode)
    for st in plan.tasks:
        task = tasks.get(st.id)
        if task is None:
            v.append(f"plan schedules unknown task {st.id}")
            continue
        if st.id in placed:
            v.append(f"task {st.id} scheduled twice")
            continue
        if not 0 <= st.mode < len(task.modes):
            v.append(f"task {st.id} uses mode {st.mode}; it has modes 0..{len(task.modes) - 1}")
            continue
        mode = task.modes[st.mode]
        if st.end != st.start + mode.duration:
            v.append(f"task {st.id} runs [{st.start}, {st.end}) but mode {st.mode} lasts {mode.duration}")
        if st.start < 0:
            v.append(f"task {st.id} starts before time 0 ({st.start})")
        placed[st.id] = (st.start, st.start + mode.duration, mode)
    for tid in tasks:
        if tid not in placed:
            v.append(f"task {tid} missing from the plan")
    if [st.id for st in plan.tasks] != [t.id for t in inst.tasks] and len(placed) == len(tasks):
        v.append("plan.tasks is not in the instance's task order")

    for tid, (start, end, _) in placed.items():
        task = tasks[tid]
        if start < task.release:
            v.append(f"task {tid} starts at {start}, before its release {task.release}")
        if task.deadline is not None and end > task.deadline:
            v.append(f"task {tid} ends at {end}, after its deadline {task.deadline}")
        for pred in task.predecessors:
            if pred.task in placed:
                p_end = placed[pred.task][1]
                if start < p_end + pred.min_lag:
                    v.append(
                        f"task {tid} starts at {start}, before predecessor {pred.task} ends ({p_end}) "
                        f"plus lag {pred.min_lag}"
                    )

    usage = _usage(placed)
    for name, res in renewable.items():
        v += _capacity_violations(
            name, res.capacity, [(w.start, w.end, w.capacity) for w in res.calendar], usage.get(name, [])
        )
    for s, members in enumerate(inst.disjunctive):
        runs = sorted(
            (placed[t][0], placed[t][1], t) for t in members if t in placed and placed[t][1] > placed[t][0]
        )
        for (s1, e1, a), (s2, e2, b) in zip(runs, runs[1:], strict=False):
            if s2 < e1:
                v.append(f"tasks {a} [{s1}, {e1}) and {b} [{s2}, {e2}) overlap in disjunctive set {s}")
    consumed: dict[str, int] = {name: 0 for name in budgets}
    for _, _, mode in placed.values():
        for name, amount in mode.demands.items():
            if name in budgets:
                consumed[name] += amount
    for name, total in consumed.items():
        if total > budgets[name]:
            v.append(f"non-renewable {name}: the modes consume {total}, above its budget {budgets[name]}")

    # bookkeeping: what the plan reports must be what its tasks imply
    if len(placed) == len(tasks):
        if plan.consumed != consumed:
            v.append(f"plan.consumed {plan.consumed} does not match the modes ({consumed})")
        expected = {name: _points(usage.get(name, [])) for name in renewable}
        if {k: [tuple(x) for x in pts] for k, pts in plan.profile.items()} != expected:
            v.append("plan.profile does not match the tasks' usage")
        v += _chain_violations(inst, plan.critical_chain, placed, tasks, set(renewable))

    ends = [e for _, e, _ in placed.values()]
    makespan = max(ends, default=0)
    objective: dict[str, float] = {}
    if inst.objective == "weighted_tardiness":
        tardiness = 0
        for t, (_, e, _) in placed.items():
            due = tasks[t].due
            if due is not None:
                tardiness += tasks[t].weight * max(0, e - due)
        objective["weighted_tardiness"] = float(tardiness)
    elif inst.objective == "weighted_completion":
        objective["weighted_completion"] = float(sum(tasks[t].weight * e for t, (_, e, _) in placed.items()))
    objective["makespan"] = float(makespan)
    return CheckReport(violations=v, objective=objective)


def _usage(placed: dict[str, tuple[int, int, Mode]]) -> dict[str, list[tuple[int, int, int, str]]]:
    """Per resource name: (start, end, amount, task) of every task holding some of it."""
    out: dict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    for tid, (start, end, mode) in placed.items():
        if end > start:
            for name, amount in mode.demands.items():
                if amount > 0:
                    out[name].append((start, end, amount, tid))
    return out


def _sweep(holders: list[tuple[int, int, int, str]]) -> list[tuple[int, int]]:
    """(t, used from t on) at every time some holder starts or ends, in time order."""
    delta: dict[int, int] = defaultdict(int)
    for start, end, amount, _ in holders:
        delta[start] += amount
        delta[end] -= amount
    out = []
    level = 0
    for t in sorted(delta):
        level += delta[t]
        out.append((t, level))
    return out


def _capacity_violations(
    name: str, capacity: int, calendar: list[tuple[int, int, int]], holders: list[tuple[int, int, int, str]]
) -> list[str]:
    """Usage and capacity are both constant between event points: check at every one of them."""
    cap_at: dict[int, int] = {}
    for _, end, _ in calendar:
        cap_at.setdefault(end, capacity)  # back to the base capacity, unless another window starts there
    for start, _, window_cap in calendar:
        cap_at[start] = window_cap
    usage = _sweep(holders)
    points = sorted(set(cap_at) | {t for t, _ in usage})
    out = []
    u = 0
    used, cap = 0, capacity
    for t in points:
        while u < len(usage) and usage[u][0] <= t:
            used = usage[u][1]
            u += 1
        cap = cap_at.get(t, cap)
        if used > cap:
            active = sorted((tid, a) for s, e, a, tid in holders if s <= t < e)
            who = ", ".join(f"{tid} ({a})" for tid, a in active)
            out.append(f"resource {name} over capacity at t={t}: {used} > {cap} (held by {who})")
            if len(out) >= 20:
                out.append(f"resource {name}: further overloads not listed")
                break
    return out


def _points(holders: list[tuple[int, int, int, str]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = [(0, 0)]
    for t, used in _sweep(holders):
        if t == 0:
            out[0] = (0, used)
        elif used != out[-1][1]:
            out.append((t, used))
    return out


def _chain_violations(
    inst: WorkflowInstance,
    chain: list[str],
    placed: dict[str, tuple[int, int, Mode]],
    tasks: dict[str, Task],
    renewable: set[str],
) -> list[str]:
    if not chain:
        return ["plan.critical_chain is empty"] if tasks else []
    unknown = [t for t in chain if t not in placed]
    if unknown:
        return [f"plan.critical_chain names tasks not in the plan: {unknown}"]
    if len(set(chain)) != len(chain):
        return ["plan.critical_chain repeats a task"]
    makespan = max(e for _, e, _ in placed.values())
    out = []
    if placed[chain[-1]][1] != makespan:
        out.append(
            f"plan.critical_chain ends with {chain[-1]}, which ends at {placed[chain[-1]][1]}, not at the "
            f"makespan {makespan}"
        )
    sets = [set(members) for members in inst.disjunctive]
    for a, b in zip(chain, chain[1:], strict=False):
        a_start, a_end, a_mode = placed[a]
        b_start, _, b_mode = placed[b]
        lags = [p.min_lag for p in tasks[b].predecessors if p.task == a]
        if lags:
            tight = b_start == a_end + max(lags)
        else:
            shared = any(a_mode.demands.get(r, 0) > 0 and b_mode.demands.get(r, 0) > 0 for r in renewable)
            shared = shared or any(a in s and b in s for s in sets)
            tight = shared and b_start == a_end and a_end > a_start
        if not tight:
            out.append(f"plan.critical_chain link {a} -> {b} is not tight (ends {a_end}, starts {b_start})")
    return out
