"""The baselines of the RCPSP literature: serial schedule generation with priority rules, the best of
them, and forward-backward improvement (Kolisch 1996; Li & Willis 1992; Valls et al. 2005).

Rules (smaller value first; ties by topological position):
  LFT   latest finish time (backward critical path from the deadlines and the horizon)
  MTS   most total successors (transitive)
  GRPW  greatest rank positional weight (own duration plus the immediate successors')
  SPT   shortest (least) duration
  EDD   earliest due date, when the objective is weighted tardiness
  WSPT  weighted shortest duration (duration / weight), when it is weighted completion
Multi-mode tasks take the mode that finishes first among those the non-renewable budgets allow.

Forward-backward improvement (justification): schedule every task as late as possible in the order
of decreasing finish times, then as early as possible in the order of those late starts; repeat while
the schedule changes without getting worse. For the makespan it never makes a schedule worse, and its
backward pass keeps the deadlines, which the forward rules only aim at (through LFT).

Schedules compare by their score: the total time by which deadlines are missed, then the objective.
How many passes run is decided from the request's time limit and the instance's size, not the clock,
so that a request gives the same baselines every time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from solver.engine import objective as lex
from solver.engine.budget import Deadline
from solver.workflow import sgs
from solver.workflow.plans import evaluate, senses
from solver.workflow.problem import INF, Problem
from solver.workflow.sgs import Schedule

FBI_ROUNDS = 8
RULES_SHARE = 0.10  # of the time limit, at most, for the rules (the first one always runs)
FBI_SHARE = 0.05  # of the time limit, at most, for the improvement passes
FBI_STARTS = 6  # rule schedules improved, best first


@dataclass
class RuleRun:
    name: str
    schedule: Schedule
    objective: dict[str, float]
    seconds: float
    score: tuple[float, ...] = ()


def score(p: Problem, sched: Schedule) -> tuple[float, ...]:
    """Smaller is better: the time by which deadlines are missed in total (the SGS does not search for
    them, so a schedule that keeps them wins whatever its objective), then the objective."""
    ends = sched.ends(p)
    overrun = sum(max(0, e - d) for e, d in zip(ends, p.deadline, strict=True))
    return (float(overrun), *(-x for x in lex.key(evaluate(p, sched), senses(p))))


def _run(p: Problem, name: str, sched: Schedule, seconds: float) -> RuleRun:
    return RuleRun(name, sched, evaluate(p, sched), seconds, score(p, sched))


def priorities(p: Problem) -> dict[str, list[float]]:
    bwd = p.backward(p.safe_horizon)
    pos = {j: k for k, j in enumerate(p.topo)}
    total_succ = _transitive_successors(p)
    out: dict[str, list[float]] = {
        "lft": [float(bwd.lf[j]) for j in range(p.n)],
        "mts": [-float(total_succ[j]) for j in range(p.n)],
        "grpw": [-float(p.dmin[j] + sum(p.dmin[k] for k, _ in set(p.succs[j]))) for j in range(p.n)],
        "spt": [float(p.dmin[j]) for j in range(p.n)],
    }
    if p.objective == "weighted_tardiness":
        out["edd"] = [float(INF if d is None else d) + pos[j] / (p.n + 1) for j, d in enumerate(p.due)]
    elif p.objective == "weighted_completion":
        out["wspt"] = [p.dmin[j] / max(p.weight[j], 1e-9) for j in range(p.n)]
    return out


def _transitive_successors(p: Problem) -> list[int]:
    reach = [0] * p.n
    for j in reversed(p.topo):
        bits = 0
        for k, _ in p.succs[j]:
            bits |= reach[k] | (1 << k)
        reach[j] = bits
    return [bin(b).count("1") for b in reach]


def pass_cost_s(p: Problem) -> float:
    """Estimated seconds of one SGS pass: about 12 us per mode and 8 per task here (1,000 multi-mode
    tasks: 25 ms); twice that, for slower machines."""
    return 2 * (12e-6 * sum(len(m) for m in p.modes) + 8e-6 * p.n)


def rule_runs(p: Problem, max_rules: int | None = None) -> list[RuleRun]:
    """Each rule's schedule, in the order above, the first `max_rules` of them."""
    out: list[RuleRun] = []
    for name, prio in list(priorities(p).items())[:max_rules]:
        t0 = time.perf_counter()
        sched = sgs.forward(p, prio)
        out.append(_run(p, name, sched, time.perf_counter() - t0))
    return out


def best_of(p: Problem, runs: list[RuleRun]) -> RuleRun:
    """The first run of the least score."""
    return min(runs, key=lambda r: r.score)


def improve(p: Problem, sched: Schedule, passes: int = 2 * FBI_ROUNDS) -> tuple[Schedule, int]:
    """Forward-backward improvement while the score does not get worse and the schedule changes,
    within `passes` SGS passes (two a round); returns the best schedule and the passes used. The
    backward pass keeps every deadline, so a schedule that misses some often comes back keeping them."""
    best, best_score = sched, score(p, sched)
    cur = sched
    used = 0
    for _ in range(FBI_ROUNDS):
        if used + 2 > passes:
            break
        used += 2
        late = sgs.backward(p, cur, cur.makespan(p))
        if late is None:
            break
        early = sgs.forward(p, [float(x) for x in late.start], late.mode)
        now = score(p, early)
        if now < best_score:
            best, best_score = early, now
        elif now > best_score or early.start == cur.start:
            break  # worse, or a fixed point
        cur = early
    return best, used


def run_all(p: Problem, deadline: Deadline) -> tuple[list[RuleRun], RuleRun | None]:
    """Each rule's schedule, and the forward-backward improvement of the best ones (None when the
    budget leaves no room for it).

    How many passes is decided from the request's time limit and the instance's size alone, never
    from the clock, so that the same request gives the same baselines (and the same hint)."""
    passes = deadline.time_limit_s / pass_cost_s(p)
    runs = rule_runs(p, max(1, int(RULES_SHARE * passes)))
    t0 = time.perf_counter()
    left = int(FBI_SHARE * passes)
    ranked = sorted(runs, key=lambda r: r.score)
    best: RuleRun | None = None
    tried: list[list[int]] = []
    for run in ranked:
        if len(tried) >= FBI_STARTS or left < 2:
            break
        if run.schedule.start in tried:
            continue
        tried.append(run.schedule.start)
        sched, used = improve(p, run.schedule, left)
        left -= used
        cand = _run(p, f"fbi({run.name})", sched, 0.0)
        if best is None or cand.score < best.score:
            best = cand
    if best is not None:
        best.seconds = time.perf_counter() - t0
    return runs, best
