"""Cheap proofs that no schedule exists, each naming the conflicting constraints with their numbers.

- a task none of whose modes fits: a demand above the resource's capacity, a use above the budget;
- the non-renewable budgets below what the tasks need in their cheapest modes;
- a deadline below the earliest finish: the chain of releases, predecessors with lags and calendar
  windows that makes the task end too late;
- too much work between releases and deadlines: tasks that must run inside [a, b) need more of a
  resource than its (calendar-aware) capacity offers there.
"""

from __future__ import annotations

import numpy as np

from models.common import Explanation
from solver.workflow.bound import capacity_segments
from solver.workflow.problem import INF, Problem

MAX_ENERGY_TASKS = 2000  # the interval energy check is quadratic in the tasks with deadlines
SHOWN = 6


def conflicts(p: Problem) -> list[Explanation]:
    out = _no_mode_fits(p)
    out += _budgets(p)
    if out:
        return out
    out = _deadlines(p)
    if out:
        return out
    return _interval_energy(p)


def _no_mode_fits(p: Problem) -> list[Explanation]:
    out = []
    for j in range(p.n):
        if p.fitting(j):
            continue
        reasons = []
        for m, md in enumerate(p.modes[j]):
            parts = [
                f"{int(md.dem[q])} of {p.row_name(q)} (capacity {int(p.cap[q])})"
                for q in range(p.n_res)
                if md.dem[q] > p.cap[q]
            ]
            parts += [
                f"{int(md.use[k])} of {name} (budget {int(p.budget[k])})"
                for k, name in enumerate(p.nr_names)
                if md.use[k] > p.budget[k]
            ]
            reasons.append(("" if len(p.modes[j]) == 1 else f"mode {m} ") + "needs " + " and ".join(parts))
        which = "its only mode" if len(p.modes[j]) == 1 else f"each of its {len(p.modes[j])} modes"
        out.append(
            Explanation(
                item=p.ids[j],
                constraint="capacity",
                message=f"task {p.ids[j]} fits in none of its modes ({which}): " + "; ".join(reasons),
                data={"modes": len(p.modes[j])},
            )
        )
    return out


def _budgets(p: Problem) -> list[Explanation]:
    out = []
    for k, name in enumerate(p.nr_names):
        least = [min(int(md.use[k]) for md in p.modes[j]) for j in range(p.n)]
        total = sum(least)
        if total > p.budget[k]:
            top = sorted(range(p.n), key=lambda j: -least[j])[:SHOWN]
            shown = ", ".join(f"{p.ids[j]} ({least[j]})" for j in top if least[j] > 0)
            out.append(
                Explanation(
                    item=name,
                    constraint="budget",
                    message=f"the tasks consume at least {total} of {name} in their cheapest modes; its "
                    f"budget is {int(p.budget[k])} (largest: {shown})",
                    data={"needed": total, "budget": int(p.budget[k])},
                )
            )
    return out


def _deadlines(p: Problem) -> list[Explanation]:
    out = []
    for j in p.topo:
        if p.deadline[j] >= INF or p.fwd.ef[j] <= p.deadline[j]:
            continue
        chain = earliest_chain(p, j)
        out.append(
            Explanation(
                item=p.ids[j],
                constraint="deadline",
                message=f"task {p.ids[j]} cannot end by its deadline {p.deadline[j]}: the earliest it can "
                f"end is {p.fwd.ef[j]}, through {chain}",
                data={"deadline": p.deadline[j], "earliest_end": p.fwd.ef[j]},
            )
        )
        if len(out) >= SHOWN:
            break
    return out


def earliest_chain(p: Problem, j: int) -> str:
    """Why task j cannot end before ef[j]: back through the predecessors that set its earliest start."""
    links = []
    k = j
    seen = set()
    while k not in seen:
        seen.add(k)
        why = p.fwd.es_why[k]
        d = p.fwd.ef[k] - p.fwd.es[k]
        text = f"{p.ids[k]} [{p.fwd.es[k]}, {p.fwd.ef[k]})"
        if why.kind == "pred":
            text += f" after {p.ids[why.other]}" + (f" + lag {why.lag}" if why.lag else "")
            links.append(text)
            k = why.other
            continue
        if why.kind == "calendar" and why.other >= 0:
            text += f" (the calendar of {p.row_name(why.other)} leaves no room for {d} before {p.fwd.es[k]})"
        elif p.release[k] > 0:
            text += f" (released at {p.release[k]})"
        links.append(text)
        break
    return " <- ".join(links)


def _interval_energy(p: Problem) -> list[Explanation]:
    bwd = p.backward(p.safe_horizon)
    bounded = np.array([lf < p.safe_horizon for lf in bwd.lf])
    if not bounded.any() or bounded.sum() > MAX_ENERGY_TASKS:
        return []
    es = np.array(p.fwd.es, dtype=np.int64)
    lf = np.array(bwd.lf, dtype=np.int64)
    for q in range(p.n_rows):
        work = np.array(
            [
                min((md.duration * int(md.dem[q]) for md in p.modes[j] if md.fits), default=0)
                for j in range(p.n)
            ],
            dtype=np.int64,
        )
        users = work > 0
        if not (users & bounded).any():
            continue
        segs = capacity_segments(p, q)
        for a in np.unique(es[users]).tolist():
            inside = np.flatnonzero(users & bounded & (es >= a))
            if not len(inside):
                continue
            order = inside[np.argsort(lf[inside], kind="stable")]
            ends = lf[order]
            need = np.cumsum(work[order])
            last = np.append(ends[1:] != ends[:-1], True)  # the cumulative need at each distinct end
            offer = _energy_at(segs, ends) - _energy_at(segs, np.array([a]))[0]
            over = np.flatnonzero(last & (ends > a) & (need > offer))
            if len(over):
                return [_overload(p, q, a, order, ends, need, offer, int(over[0]))]
    return []


def _overload(
    p: Problem,
    q: int,
    a: int,
    order: np.ndarray,
    ends: np.ndarray,
    need: np.ndarray,
    offer: np.ndarray,
    k: int,
) -> Explanation:
    b = int(ends[k])
    tasks = [p.ids[j] for j in sorted(order[: k + 1].tolist())]
    shown = ", ".join(tasks[:SHOWN]) + (f" and {len(tasks) - SHOWN} more" if len(tasks) > SHOWN else "")
    name = p.row_name(q)
    return Explanation(
        item=name,
        constraint="capacity",
        message=f"tasks {shown} must run within [{a}, {b}) (their releases, predecessors and deadlines) "
        f"and need {int(need[k])} units of {name} x time there; {name} offers {int(offer[k])} "
        f"(capacity {int(p.cap[q])})",
        data={"start": a, "end": b, "needed": int(need[k]), "offered": int(offer[k]), "tasks": tasks},
    )


def _energy_at(segs: list[tuple[int, int, int]], t: np.ndarray) -> np.ndarray:
    """Capacity integrated over [0, t) for each t (capacity_segments' open last segment included)."""
    starts = np.array([sg[0] for sg in segs], dtype=np.int64)
    caps = np.array([sg[2] for sg in segs], dtype=np.int64)
    acc = np.concatenate([[0], np.cumsum(caps[:-1] * np.diff(starts))])
    k = np.searchsorted(starts, t, side="right") - 1
    return acc[k] + caps[k] * (t - starts[k])
