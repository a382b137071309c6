"""Readers and writers of the classic benchmark formats, into and out of WorkflowInstance.

PSPLIB (Kolisch & Sprecher 1996): single-mode `.sm` and multi-mode `.mm` files. Task ids are the job
numbers ("1" is the dummy source, the last one the dummy sink); renewable resources are named R1, R2,
..., non-renewable ones N1, N2, ... (their availabilities become budgets). Successor lists become
finish-to-start predecessors.

Job shop: the OR-Library format (first line `jobs machines`, then per job `machine duration` pairs in
processing order, machines from 0) and Taillard's (`jobs machines [seeds bounds]`, a `Times` block of
durations and a `Machines` block of machines from 1; the two labels are optional). Machines become
capacity-1 resources M0, M1, ...; the operations of a job a chain; task ids `j<job>-o<op>` from 0.

Each writer writes what its reader reads back as the same instance.
"""

from __future__ import annotations

import re
from collections import defaultdict

from models.workflow import Mode, Predecessor, Resource, Task, WorkflowInstance
from models.workflow import NonRenewable as NonRenewableModel

STARS = "*" * 72


class FormatError(ValueError):
    """A file that does not follow its format: says which line and what was expected."""


# PSPLIB ------------------------------------------------------------------------------------------


def _ints(line: str, lineno: int) -> list[int]:
    try:
        return [int(x) for x in line.split()]
    except ValueError:
        raise FormatError(f"line {lineno}: expected integers, got {line.strip()!r}") from None


def _section(lines: list[str], title: str) -> int:
    for k, line in enumerate(lines):
        if line.strip().upper().startswith(title):
            return k
    raise FormatError(f"no {title!r} section (is this a PSPLIB .sm/.mm file?)")


def _count(lines: list[str], label: str) -> int:
    for k, line in enumerate(lines):
        if label in line.lower() and ":" in line:
            m = re.search(r":\s*(\d+)", line)
            if m:
                return int(m.group(1))
            raise FormatError(f"line {k + 1}: cannot read the number of {label} resources")
    return 0


def _body(lines: list[str], start: int) -> list[tuple[int, str]]:
    """Data lines after a section title and its header lines, up to the next line of stars."""
    out = []
    for k in range(start + 1, len(lines)):
        text = lines[k].strip()
        if text.startswith("*"):
            break
        if not text or text.startswith("-") or not text[0].isdigit():
            continue
        out.append((k + 1, lines[k]))
    return out


def read_psplib(text: str) -> WorkflowInstance:
    lines = text.splitlines()
    n_r = _count(lines, "- renewable")
    n_n = _count(lines, "- nonrenewable")
    n_d = _count(lines, "- doubly constrained")
    if n_d:
        raise FormatError(
            f"{n_d} doubly constrained resources: not supported (renewable and non-renewable only)"
        )
    succ: dict[int, list[int]] = {}
    n_modes: dict[int, int] = {}
    for lineno, line in _body(lines, _section(lines, "PRECEDENCE RELATIONS")):
        vals = _ints(line, lineno)
        if len(vals) < 3 or len(vals) != 3 + vals[2]:
            raise FormatError(f"line {lineno}: expected 'jobnr #modes #successors successors...'")
        job, count, _, *rest = vals
        if job in succ:
            raise FormatError(f"line {lineno}: job {job} listed twice")
        succ[job], n_modes[job] = rest, count
    jobs = sorted(succ)
    if jobs != list(range(1, len(jobs) + 1)):
        raise FormatError("jobs must be numbered 1..n in the precedence section")
    per_mode = 2 + n_r + n_n
    modes: dict[int, list[Mode]] = defaultdict(list)
    job = 0
    for lineno, line in _body(lines, _section(lines, "REQUESTS/DURATIONS")):
        row = _ints(line, lineno)
        if len(row) == per_mode + 1:
            job, row = row[0], row[1:]
        elif len(row) != per_mode or not job:
            raise FormatError(
                f"line {lineno}: expected [jobnr] mode duration and {n_r} renewable + {n_n} "
                "non-renewable demands"
            )
        mode, duration, *demand = row
        if job not in succ or mode != len(modes[job]) + 1:
            raise FormatError(f"line {lineno}: job {job} mode {mode} out of order")
        if mode > n_modes[job]:
            raise FormatError(
                f"line {lineno}: reads as mode {mode} of job {job}, which declares {n_modes[job]} mode(s); "
                f"expected jobnr mode duration and {n_r + n_n} demands"
            )
        names = [f"R{k + 1}" for k in range(n_r)] + [f"N{k + 1}" for k in range(n_n)]
        if duration < 0 or any(d < 0 for d in demand):
            raise FormatError(f"line {lineno}: negative duration or demand")
        modes[job].append(
            Mode(duration=duration, demands={n: d for n, d in zip(names, demand, strict=True) if d})
        )
    for j in jobs:
        if len(modes[j]) != n_modes[j]:
            raise FormatError(
                f"job {j} declares {n_modes[j]} modes, the requests section has {len(modes[j])}"
            )
    avail_at = _section(lines, "RESOURCEAVAILABILITIES")
    avail = [v for lineno, line in _body(lines, avail_at) for v in _ints(line, lineno)]
    if len(avail) != n_r + n_n:
        raise FormatError(
            f"line {avail_at + 3}: expected {n_r + n_n} resource availabilities, got {len(avail)}"
        )
    preds: dict[int, list[int]] = defaultdict(list)
    for i in jobs:
        for j in succ[i]:
            if j not in succ:
                raise FormatError(f"job {i} names an unknown successor {j}")
            preds[j].append(i)
    return WorkflowInstance(
        tasks=[
            Task(id=str(j), modes=modes[j], predecessors=[Predecessor(task=str(i)) for i in sorted(preds[j])])
            for j in jobs
        ],
        resources=[Resource(name=f"R{k + 1}", capacity=avail[k]) for k in range(n_r)],
        nonrenewable=[NonRenewableModel(name=f"N{k + 1}", budget=avail[n_r + k]) for k in range(n_n)],
    )


def _psplib_representable(inst: WorkflowInstance) -> None:
    problems = []
    if inst.disjunctive:
        problems.append("disjunctive sets")
    if any(r.calendar for r in inst.resources):
        problems.append("calendars")
    for t in inst.tasks:
        if t.release or t.deadline is not None or t.due is not None:
            problems.append(f"release/deadline/due of task {t.id}")
            break
    for t in inst.tasks:
        if any(p.min_lag for p in t.predecessors):
            problems.append(f"lags of task {t.id}")
            break
    if problems:
        raise ValueError("PSPLIB .sm/.mm cannot express " + ", ".join(problems))


def write_psplib(inst: WorkflowInstance) -> str:
    """Jobs are numbered by their position (1..n); resources R1.. then N1.. by position."""
    _psplib_representable(inst)
    n = len(inst.tasks)
    number = {t.id: k + 1 for k, t in enumerate(inst.tasks)}
    succ: dict[int, list[int]] = defaultdict(list)
    for t in inst.tasks:
        for p in t.predecessors:
            succ[number[p.task]].append(number[t.id])
    ren = [r.name for r in inst.resources]
    non = [r.name for r in inst.nonrenewable]
    horizon = sum(max(m.duration for m in t.modes) for t in inst.tasks)
    cpm = _critical_path(inst)
    out = [
        STARS,
        "file with basedata            : schedopt",
        "initial value random generator: 0",
        STARS,
        "projects                      :  1",
        f"jobs (incl. supersource/sink ):  {n}",
        f"horizon                       :  {horizon}",
        "RESOURCES",
        f"  - renewable                 :  {len(ren)}   R",
        f"  - nonrenewable              :  {len(non)}   N",
        "  - doubly constrained        :  0   D",
        STARS,
        "PROJECT INFORMATION:",
        "pronr.  #jobs rel.date duedate tardcost  MPM-Time",
        f"    1     {max(0, n - 2)}      0        0        0       {cpm}",
        STARS,
        "PRECEDENCE RELATIONS:",
        "jobnr.    #modes  #successors   successors",
    ]
    for t in inst.tasks:
        j = number[t.id]
        nxt = sorted(set(succ[j]))
        out.append(f"{j:4d}{len(t.modes):9d}{len(nxt):11d}       " + "".join(f"{s:4d}" for s in nxt))
    heads = [f"R{k + 1:2d}" for k in range(len(ren))] + [f"N{k + 1:2d}" for k in range(len(non))]
    out += [
        STARS,
        "REQUESTS/DURATIONS:",
        "jobnr. mode duration" + "".join(f"{h:>5s}" for h in heads),
        "-" * 72,
    ]
    for t in inst.tasks:
        for m, mode in enumerate(t.modes):
            lead = f"{number[t.id]:3d}" if m == 0 else "   "
            amounts = [mode.demands.get(name, 0) for name in ren + non]
            out.append(f"{lead}{m + 1:7d}{mode.duration:6d}   " + "".join(f"{a:5d}" for a in amounts))
    out += [STARS, "RESOURCEAVAILABILITIES:", "".join(f"{h:>5s}" for h in heads)]
    amounts = [r.capacity for r in inst.resources] + [r.budget for r in inst.nonrenewable]
    out.append("".join(f"{a:5d}" for a in amounts))
    out.append(STARS)
    return "\n".join(out) + "\n"


def _critical_path(inst: WorkflowInstance) -> int:
    finish: dict[str, int] = {}
    tasks = {t.id: t for t in inst.tasks}

    for tid in _topo_ids(inst):  # predecessors first
        t = tasks[tid]
        start = max((finish[p.task] + p.min_lag for p in t.predecessors), default=0)
        finish[tid] = start + min(m.duration for m in t.modes)
    return max(finish.values(), default=0)


def _topo_ids(inst: WorkflowInstance) -> list[str]:
    indeg = {t.id: len(t.predecessors) for t in inst.tasks}
    succ: dict[str, list[str]] = defaultdict(list)
    for t in inst.tasks:
        for p in t.predecessors:
            succ[p.task].append(t.id)
    ready = [t.id for t in inst.tasks if indeg[t.id] == 0]
    out = []
    while ready:
        tid = ready.pop()
        out.append(tid)
        for s in succ[tid]:
            indeg[s] -= 1
            if indeg[s] == 0:
                ready.append(s)
    return out


# job shop ----------------------------------------------------------------------------------------


def read_jobshop(text: str) -> WorkflowInstance:
    """OR-Library or Taillard format, told apart by the shape of the rows."""
    rows: list[tuple[int, list[int]]] = []
    for k, line in enumerate(text.splitlines()):
        parts = line.split()
        if parts and all(re.fullmatch(r"-?\d+", x) for x in parts):
            rows.append((k + 1, [int(x) for x in parts]))
    if not rows or len(rows[0][1]) < 2:
        raise FormatError("expected a first line 'jobs machines'")
    (first_line, head), body = rows[0], rows[1:]
    n, m = head[0], head[1]
    if n < 1 or m < 1:
        raise FormatError(f"line {first_line}: jobs and machines must be positive, got {n} {m}")
    if len(body) >= n and all(len(r) == 2 * m for _, r in body[:n]):
        jobs = [[(r[2 * o], r[2 * o + 1]) for o in range(m)] for _, r in body[:n]]
        base = 0
    elif len(body) >= 2 * n and all(len(r) == m for _, r in body[: 2 * n]):
        times, machines = body[:n], body[n : 2 * n]
        base = 0 if min(x for _, r in machines for x in r) == 0 else 1
        jobs = [
            [(mr[o] - base, tr[o]) for o in range(m)]
            for (_, tr), (_, mr) in zip(times, machines, strict=True)
        ]
    else:
        raise FormatError(
            f"after line {first_line} ({n} jobs, {m} machines): expected {n} rows of {2 * m} numbers "
            f"(OR-Library: machine duration pairs) or {2 * n} rows of {m} (Taillard: times, then machines)"
        )
    tasks = []
    for j, ops in enumerate(jobs):
        at = body[j][0]
        for o, (machine, duration) in enumerate(ops):
            if not 0 <= machine < m:
                raise FormatError(
                    f"job {j} (line {at}): machine {machine + base} out of range for {m} machines"
                )
            if duration < 0:
                raise FormatError(f"job {j} (line {at}): negative duration {duration}")
            tasks.append(
                Task(
                    id=f"j{j}-o{o}",
                    modes=[Mode(duration=duration, demands={f"M{machine}": 1})],
                    predecessors=[Predecessor(task=f"j{j}-o{o - 1}")] if o else [],
                )
            )
    return WorkflowInstance(tasks=tasks, resources=[Resource(name=f"M{k}", capacity=1) for k in range(m)])


def _jobs_of(inst: WorkflowInstance) -> list[list[tuple[int, int]]]:
    """The instance as job-shop rows of (machine, duration); ValueError when it is not a job shop."""
    machine_of = {}
    for r in inst.resources:
        mm = re.fullmatch(r"M(\d+)", r.name)
        if not mm or r.capacity != 1 or r.calendar:
            raise ValueError(f"resource {r.name} is not a job-shop machine (M<k>, capacity 1, no calendar)")
        machine_of[r.name] = int(mm.group(1))
    if sorted(machine_of.values()) != list(range(len(machine_of))):
        raise ValueError("machines must be M0..M<m-1>")
    jobs: dict[int, dict[int, tuple[int, int]]] = defaultdict(dict)
    for t in inst.tasks:
        mm = re.fullmatch(r"j(\d+)-o(\d+)", t.id)
        if not mm or len(t.modes) != 1 or len(t.modes[0].demands) != 1:
            raise ValueError(f"task {t.id} is not a job-shop operation (j<job>-o<op>, one mode, one machine)")
        ((name, amount),) = t.modes[0].demands.items()
        if name not in machine_of or amount != 1:
            raise ValueError(f"task {t.id} must use 1 of one machine")
        j, o = int(mm.group(1)), int(mm.group(2))
        want = [f"j{j}-o{o - 1}"] if o else []
        if [p.task for p in t.predecessors] != want or any(p.min_lag for p in t.predecessors):
            raise ValueError(f"task {t.id} must follow exactly the previous operation of its job")
        jobs[j][o] = (machine_of[name], t.modes[0].duration)
    m = len(machine_of)
    out = []
    for j in range(len(jobs)):
        ops = jobs.get(j, {})
        if sorted(ops) != list(range(m)):
            raise ValueError(f"job {j} must have one operation per machine (o0..o{m - 1})")
        out.append([ops[o] for o in range(m)])
    if any(t.release or t.deadline is not None or t.due is not None for t in inst.tasks) or inst.disjunctive:
        raise ValueError(
            "releases, deadlines, due dates and disjunctive sets are not part of the job-shop formats"
        )
    return out


def write_jobshop(inst: WorkflowInstance, fmt: str = "orlib") -> str:
    jobs = _jobs_of(inst)
    n, m = len(jobs), len(inst.resources)
    if fmt == "orlib":
        lines = [f"{n} {m}"] + [" ".join(f"{mc} {d}" for mc, d in ops) for ops in jobs]
    elif fmt == "taillard":
        lines = ["Nb of jobs, Nb of Machines", f"{n} {m}", "Times"]
        lines += [" ".join(str(d) for _, d in ops) for ops in jobs]
        lines.append("Machines")
        lines += [" ".join(str(mc + 1) for mc, _ in ops) for ops in jobs]
    else:
        raise ValueError(f"unknown job-shop format {fmt!r} (orlib or taillard)")
    return "\n".join(lines) + "\n"
