"""The baselines users run today, emulated faithfully, and a greedy balanced split.

- PipeDream's dynamic program (Narayanan et al., SOSP 2019; optimizer_graph_hierarchical.py with a straight
  pipeline and use_fewer_machines): A[r][i] = least bottleneck of layers [i, L) on r stages,
  min over j of max(stage [i, j), cut j, A[r-1][j]), every device assumed to be of one type. It profiles one
  device type, so it plans with the type that has the most devices, the smallest memory of all devices and
  the slowest transfer of each cut, and maps stages onto the devices of that type first, then the others.
  Optimal for identical devices (for each stage count r, hence for the best r).
- PipeEdge's dynamic program over device types (Hu et al., DSD 2022; schedule_device_types in
  src-native/schedule.cpp): h[i][S][u] = least bottleneck of layers [0, i) on the multiset S of device
  types with the next stage on type u; a stage [i, j) on u costs max(compute, transfer to type v). Each type
  is its least memory and the slowest transfer between two of its devices; stages go to the hosts of a type
  in order. Optimal within that model (the exact optimum when the devices of a type are alike and one
  network joins them all). Its state space is prod(count + 1) x types x layers; larger ones are skipped.
- Greedy balanced split: the fastest devices first, the layers cut from the end so that each stage stays
  within a bottleneck target, the least target found by bisection (one device order, so no search).

Training: the k-th stage from the end holds min(microbatches, k) microbatches in flight; the DPs build from
the end (PipeDream) or assume the most stages left (PipeEdge, which plans inference only).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from solver.engine.budget import Deadline
from solver.pipeline.plans import Evaluated, evaluate, non_dominated
from solver.pipeline.problem import Placement, Problem

PIPEDREAM_MAX_LAYERS = 1500  # its (L + 1)^2 tables
PIPEEDGE_RATE = 2.5e8  # estimated operations per second of the vectorised PipeEdge DP (pruned: 4e8 measured)
PIPEEDGE_SHARE = 0.15  # of the time limit, at most
PIPEEDGE_MIN_WORK = 5e6  # always affordable (about 0.2 s)


@dataclass
class Run:
    name: str
    candidates: list[Evaluated]  # every plan it produced (one per stage count for PipeDream)
    chosen: Evaluated | None  # what the algorithm itself returns
    seconds: float
    note: str = ""


# PipeDream -------------------------------------------------------------------------------------


def pipedream(p: Problem) -> Run:
    t0 = time.perf_counter()
    if p.L > PIPEDREAM_MAX_LAYERS:
        return Run(
            "pipedream-dp",
            [],
            None,
            0.0,
            f"skipped: {p.L} layers (its tables hold at most {PIPEDREAM_MAX_LAYERS})",
        )
    counts = np.bincount(p.dev_type, minlength=p.T)
    ref = int(np.argmax(counts))  # the profiled type: the most common (first on ties)
    memory = min(p.dev_memory)
    order = [d for d in range(p.D) if p.dev_type[d] == ref] + [d for d in range(p.D) if p.dev_type[d] != ref]
    L = p.L
    P = p.prefix[ref]
    cut = _worst_cut(p)
    i = np.arange(L + 1)[:, None]
    j = np.arange(L + 1)[None, :]
    upper = i < j
    stage = np.where(upper, P[None, :] - P[:, None], np.inf)
    stage = np.maximum(stage, np.where(j < L, cut[None, :], 0.0))
    ii = np.broadcast_to(i, (L + 1, L + 1))
    jj = np.broadcast_to(j, (L + 1, L + 1))
    within: dict[int, np.ndarray] = {}  # the stage's cost where it fits with q in flight, else inf
    best = np.full(L + 1, np.inf)
    best[L] = 0.0  # zero stages cover [L, L)
    choice: list[np.ndarray] = []
    values = []
    kmax = min(p.kmax, p.D)
    cost = np.empty((L + 1, L + 1))
    for r in range(1, kmax + 1):
        q = min(p.microbatches, r) if p.training else 1
        if q not in within:
            within[q] = np.where(upper & (p.memory_vec(np.minimum(ii, jj), jj, q) <= memory), stage, np.inf)
        np.maximum(within[q], best[None, :], out=cost)
        arg = np.argmin(cost, axis=1)
        best = cost[np.arange(L + 1), arg]
        best[L] = np.inf  # a stage is never empty
        choice.append(arg)
        values.append(float(best[0]))
    cands = []
    chosen: Evaluated | None = None
    chosen_value = math.inf
    for r in range(1, kmax + 1):
        if not math.isfinite(values[r - 1]):
            continue
        placement = []
        a = 0
        for s in range(r):
            b = int(choice[r - 1 - s][a])
            placement.append((a, b, order[s]))
            a = b
        ev = evaluate(p, placement)
        cands.append(ev)
        if values[r - 1] < chosen_value * (1 - 1e-12):  # fewer machines on ties (use_fewer_machines)
            chosen, chosen_value = ev, values[r - 1]
    return Run("pipedream-dp", cands, chosen, time.perf_counter() - t0)


def _worst_cut(p: Problem) -> np.ndarray:
    """The slowest finite transfer of each cut over every class pair: one bandwidth for the whole
    cluster, as PipeDream takes it (inf when no pair connects)."""
    worst = np.zeros(p.L + 1)
    seen = np.zeros(p.L + 1, dtype=bool)
    for cut in p.class_pairs.values():
        finite = np.isfinite(cut)
        worst = np.where(finite, np.maximum(worst, cut), worst)
        seen |= finite
    worst[~seen] = np.inf
    worst[0] = worst[p.L] = 0.0
    return worst


# PipeEdge --------------------------------------------------------------------------------------


def pipeedge_work(p: Problem) -> float:
    counts = np.bincount(p.dev_type, minlength=p.T)
    lattice = math.prod(int(min(c, p.kmax)) + 1 for c in counts)
    span = max(1.0, p.L / max(1, min(p.kmax, p.D)) * 4)
    return float(p.L) * lattice * p.T * p.T * min(span, p.L)


def pipeedge(p: Problem, upper: float = math.inf) -> Run:
    """PipeEdge's DP, pruned by `upper` (a bottleneck some plan reaches): stages computing longer are left
    out. PipeEdge's value of a plan is at least its true bottleneck (slowest transfers, least memory), so
    its optimum can lie above `upper`; then the pruned run is not PipeEdge's answer and it runs again
    unpruned. The answer is PipeEdge's either way."""
    t0 = time.perf_counter()
    run, value = _pipeedge(p, upper)
    if math.isfinite(upper) and not value <= upper * (1 + 1e-12):
        run, value = _pipeedge(p, math.inf)
    run.seconds = time.perf_counter() - t0
    return run


def _pipeedge(p: Problem, upper: float) -> tuple[Run, float]:
    """(run, PipeEdge's own value of its plan: inf when it has none)."""
    t0 = time.perf_counter()
    T, L = p.T, p.L
    counts = [int(min(c, p.kmax)) for c in np.bincount(p.dev_type, minlength=T)]
    hosts = [[d for d in range(p.D) if p.dev_type[d] == t] for t in range(T)]
    memory = [min(p.dev_memory[d] for d in hosts[t]) for t in range(T)]
    comm = _type_comm(p)
    dims = [c + 1 for c in counts]
    strides = np.ones(T, dtype=np.int64)
    for t in range(T - 2, -1, -1):
        strides[t] = strides[t + 1] * dims[t + 1]
    size = math.prod(dims)
    flat = np.arange(size)
    digits = np.stack([(flat // strides[t]) % dims[t] for t in range(T)], axis=1)
    used = digits.sum(axis=1)
    h = np.full((L + 1, size, T), np.inf)
    parent = np.full((L + 1, size, T, 2), -1, dtype=np.int64)
    h[0, 0, :] = 0.0
    res, res_at = math.inf, None
    pos = np.arange(L + 1)
    bound = upper * (1 + 1e-12) if math.isfinite(upper) else math.inf
    for i in range(L):
        for u in range(T):
            rows = np.flatnonzero(np.isfinite(h[i, :, u]) & (digits[:, u] < counts[u]) & (used < p.kmax))
            if not rows.size:
                continue
            P = p.prefix[p.dev_type[hosts[u][0]]]
            comp = P[i + 1 :] - P[i]
            js = pos[i + 1 :][comp <= bound]
            comp = comp[: js.size]
            if not js.size:
                continue
            q = (
                np.minimum(p.microbatches, p.kmax - used[rows]) if p.training else np.ones(rows.size)
            ).astype(np.int64)
            mem = p.memory_vec(np.full((rows.size, js.size), i), js[None, :], q[:, None])
            fit = mem <= memory[u]
            base = np.maximum(h[i, rows, u][:, None], comp[None, :])
            base = np.where(fit, base, np.inf)
            if js[-1] == L:
                last = base[:, -1]
                k = int(np.argmin(last))
                if last[k] < res:
                    res, res_at = float(last[k]), (i, int(rows[k]), u)
            inner = js < L
            if not inner.any():
                continue
            jin = js[inner]
            target = rows + strides[u]
            for v in range(T):
                free = digits[target, v] < counts[v]  # v must still have a host after u's stage
                if not free.any():
                    continue
                cost = np.maximum(base[free][:, inner], comm[u][v][jin][None, :])
                tr = target[free]
                cur = h[jin[None, :], tr[:, None], v]
                better = cost < cur
                if better.any():
                    rr, cc = np.nonzero(better)
                    h[jin[cc], tr[rr], v] = cost[rr, cc]
                    parent[jin[cc], tr[rr], v, 0] = i
                    parent[jin[cc], tr[rr], v, 1] = u
    if res_at is None:
        return Run("pipeedge-dp", [], None, time.perf_counter() - t0), math.inf
    i, state, u = res_at
    stages = [(i, L, u)]
    while i > 0:
        prev_i, prev_u = (int(x) for x in parent[i, state, u])
        state -= int(strides[prev_u])
        stages.append((prev_i, i, prev_u))
        i, u = prev_i, prev_u
    stages.reverse()
    taken = [0] * T
    placement = []
    for a, b, t in stages:
        placement.append((a, b, hosts[t][taken[t]]))
        taken[t] += 1
    ev = evaluate(p, placement)
    return Run("pipeedge-dp", [ev], ev, time.perf_counter() - t0), res


def _type_comm(p: Problem) -> list[list[np.ndarray]]:
    """[u][v] cut times between device types: the slowest pair of their devices (PipeEdge takes the
    smaller of the two types' bandwidths)."""
    out = []
    for u in range(p.T):
        row = []
        for v in range(p.T):
            worst = np.zeros(p.L + 1)
            any_pair = False
            for (x, y), cut in p.class_pairs.items():
                if p.classes[x].type == u and p.classes[y].type == v:
                    worst = np.maximum(worst, cut)
                    any_pair = True
            if not any_pair:
                worst = np.full(p.L + 1, np.inf)
            row.append(worst)
        out.append(row)
    return out


# greedy ----------------------------------------------------------------------------------------


def greedy(p: Problem, iterations: int = 40) -> Run:
    """Fastest devices take the last stages; each stage reaches as far left as the target allows."""
    t0 = time.perf_counter()
    total = p.prefix[:, -1]
    order = sorted(range(p.D), key=lambda d: (total[p.dev_type[d]], -p.dev_memory[d], d))[: p.kmax]
    lo, hi = 0.0, float(total.max()) + p.max_finite_transfer
    cands: list[Evaluated] = []
    scalar = _Scalar(p)
    plan = _greedy_at(p, scalar, order, math.inf)
    if plan is None:
        return Run("greedy-balanced", [], None, time.perf_counter() - t0)
    cands.append(evaluate(p, plan))
    hi = cands[-1].bottleneck
    for _ in range(iterations):
        mid = (lo + hi) / 2
        plan = _greedy_at(p, scalar, order, mid)
        if plan is None:
            lo = mid
        else:
            ev = evaluate(p, plan)
            cands.append(ev)
            hi = min(mid, ev.bottleneck)
        if hi - lo <= 1e-9 * max(1.0, hi):
            break
    feasible = [e for e in cands if e.feasible]
    chosen = min(feasible, key=lambda e: e.key("throughput")) if feasible else None
    return Run("greedy-balanced", cands, chosen, time.perf_counter() - t0)


class _Scalar:
    """The prefixes as Python lists: the greedy asks one position at a time, where numpy's per-call cost
    dominates. Same floating-point expressions as Problem.memory and the prefix differences."""

    def __init__(self, p: Problem):
        self.P = [p.prefix[t].tolist() for t in range(p.T)]
        self.W, self.A = p.W.tolist(), p.A.tolist()
        self.factor = p.factor

    def leftmost(self, t: int, memory: int, q: int, budget: float, end: int) -> int:
        """The least start of a stage [start, end) on type t within budget and memory (end: none)."""
        P, W, A, f = self.P[t], self.W, self.A, self.factor
        lo, hi = 0, end  # the predicate holds at end and, once it holds, at every later start
        while lo < hi:
            mid = (lo + hi) // 2
            need = f * float(W[end] - W[mid]) + q * float(A[end] - A[mid])
            if P[end] - P[mid] <= budget and need <= memory:
                hi = mid
            else:
                lo = mid + 1
        return lo


def _greedy_at(p: Problem, scalar: _Scalar, order: list[int], target: float) -> Placement | None:
    stages: Placement = []
    end = p.L
    right = -1  # the device of the stage to the right of the one being placed
    # the first position from each on where some pair of devices can cut within the target
    marks = np.where(p.min_cut <= target, np.arange(p.L + 1), p.L + 1)
    cut_from = np.minimum.accumulate(marks[::-1])[::-1].tolist()
    for k, d in enumerate(order):
        if right >= 0 and not p.device_cut(d, right, end) <= target:
            return None
        q = min(p.microbatches, k + 1) if p.training else 1
        start = scalar.leftmost(p.dev_type[d], p.dev_memory[d], q, target, end)
        if start >= end:
            return None
        if start > 0:  # a cut some pair of devices can make within the target (which pair: not known yet)
            start = cut_from[start]
            if start >= end:
                return None
        stages.append((start, end, d))
        end, right = start, d
        if end == 0:
            return list(reversed(stages))
    return None


# all of them -----------------------------------------------------------------------------------


def run_all(p: Problem, deadline: Deadline) -> list[Run]:
    """PipeDream, PipeEdge (when its state space fits the budget) and the greedy split. Whether PipeEdge
    runs is decided from the request's time limit and the instance's size, never the clock."""
    runs = [pipedream(p)]
    g = greedy(p)
    work = pipeedge_work(p)
    allowed = max(PIPEEDGE_MIN_WORK, PIPEEDGE_SHARE * deadline.time_limit_s * PIPEEDGE_RATE)
    if work <= allowed:
        upper = min(
            (r.chosen.bottleneck for r in (runs[0], g) if r.chosen is not None and r.chosen.feasible),
            default=math.inf,
        )
        runs.append(pipeedge(p, upper))
    else:
        runs.append(
            Run(
                "pipeedge-dp",
                [],
                None,
                0.0,
                f"skipped: its state space ({work:.2g} operations) exceeds {allowed:.2g} for this time limit",
            )
        )
    runs.append(g)
    return runs


def best_of(p: Problem, run: Run, objective: str) -> Evaluated | None:
    """What the baseline returns for this objective: its own choice for the bottleneck, its least-latency
    plan for latency (PipeDream over its stage counts, the greedy over its targets)."""
    if objective == "latency":
        feasible = [e for e in run.candidates if e.feasible]
        return min(feasible, key=lambda e: e.key("latency")) if feasible else None
    return run.chosen


def front_of(run: Run) -> list[Evaluated]:
    return non_dominated(run.candidates)
