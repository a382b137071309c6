"""Rules that relate several fields of a workflow instance; each error names its JSON path.

Bad input only: a well-formed instance that has no schedule (a deadline below the critical path, a
demand above every capacity) is not an error but a proven `infeasible` answer (see infeasible.py).
"""

from __future__ import annotations

from models.workflow import WorkflowInstance
from solver.engine.errors import FieldError, InvalidInstance


def validate(inst: WorkflowInstance) -> None:
    errors: list[FieldError] = []
    index: dict[str, int] = {}
    for i, task in enumerate(inst.tasks):
        if task.id in index:
            errors.append(
                FieldError(("tasks", i, "id"), f"duplicate task id (also tasks[{index[task.id]}])", task.id)
            )
        index.setdefault(task.id, i)
    names: dict[str, tuple[str, int]] = {}
    for field in ("resources", "nonrenewable"):
        for k, res in enumerate(getattr(inst, field)):
            if res.name in names:
                other = "{}[{}]".format(*names[res.name])
                errors.append(
                    FieldError((field, k, "name"), f"duplicate resource name (also {other})", res.name)
                )
            names.setdefault(res.name, (field, k))
    for k, res in enumerate(inst.resources):
        seen: list[tuple[int, int, int]] = []
        for w, win in enumerate(res.calendar):
            at = ("resources", k, "calendar", w)
            if win.end <= win.start:
                errors.append(
                    FieldError(
                        (*at, "end"), f"a window must end after it starts (start {win.start})", win.end
                    )
                )
                continue
            if win.capacity > res.capacity:
                errors.append(
                    FieldError(
                        (*at, "capacity"),
                        f"a calendar window can only lower the capacity ({res.capacity} for {res.name}); "
                        "raise the resource's capacity and lower it in the other windows instead",
                        win.capacity,
                    )
                )
            for w_start, w_end, w_index in seen:
                if win.start < w_end and w_start < win.end:
                    errors.append(
                        FieldError(
                            (*at, "start"),
                            f"window [{win.start}, {win.end}) overlaps calendar[{w_index}] "
                            f"[{w_start}, {w_end})",
                            win.start,
                        )
                    )
                    break
            seen.append((win.start, win.end, w))
    for i, task in enumerate(inst.tasks):
        for k, pred in enumerate(task.predecessors):
            where = ("tasks", i, "predecessors", k, "task")
            if pred.task not in index:
                errors.append(FieldError(where, "unknown task id", pred.task))
            elif pred.task == task.id:
                errors.append(FieldError(where, "a task cannot be its own predecessor (a cycle)", pred.task))
        for m, mode in enumerate(task.modes):
            for name in mode.demands:
                if name not in names:
                    known = ", ".join(sorted(names)) or "none declared"
                    errors.append(
                        FieldError(
                            ("tasks", i, "modes", m, "demands", name),
                            f"unknown resource (known: {known})",
                            name,
                        )
                    )
    for s, members in enumerate(inst.disjunctive):
        seen_ids: set[str] = set()
        for k, tid in enumerate(members):
            if tid not in index:
                errors.append(FieldError(("disjunctive", s, k), "unknown task id", tid))
            elif tid in seen_ids:
                errors.append(FieldError(("disjunctive", s, k), "task listed twice in this set", tid))
            seen_ids.add(tid)
    if not errors:
        cycle = find_cycle(inst, index)
        if cycle:
            first = index[cycle[0]]
            errors.append(
                FieldError(
                    ("tasks", first, "predecessors"),
                    f"the predecessors form a cycle: {' -> '.join(cycle)} -> {cycle[0]} (each a predecessor "
                    "of the next)",
                    cycle[0],
                )
            )
    if errors:
        raise InvalidInstance(errors)


def find_cycle(inst: WorkflowInstance, index: dict[str, int]) -> list[str]:
    """Task ids on one cycle, each a predecessor of the next; [] for a DAG."""
    n = len(inst.tasks)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for j, task in enumerate(inst.tasks):
        for pred in task.predecessors:
            succ[index[pred.task]].append(j)
            indeg[j] += 1
    stack = [j for j in range(n) if indeg[j] == 0]
    while stack:
        i = stack.pop()
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                stack.append(j)
    left = {j for j in range(n) if indeg[j] > 0}
    if not left:
        return []
    # every remaining task has a remaining predecessor: walk backwards until a task repeats
    pred_left = {
        j: next(index[p.task] for p in inst.tasks[j].predecessors if index[p.task] in left) for j in left
    }
    j = min(left)
    seen: dict[int, int] = {}
    walk: list[int] = []
    while j not in seen:
        seen[j] = len(walk)
        walk.append(j)
        j = pred_left[j]
    cycle = walk[seen[j] :]
    cycle.reverse()  # each a predecessor of the next
    first = cycle.index(min(cycle))  # start at the task listed first in the instance
    return [inst.tasks[k].id for k in cycle[first:] + cycle[:first]]
