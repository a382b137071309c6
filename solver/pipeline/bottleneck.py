"""Exact least bottleneck: a parametric search over the candidate values with a reach DP as the test.

feasible(B): can the layers be covered by stages, each on its own device, each computing within B and
fitting its device's memory, every cut between consecutive stages transferring within B? Devices of one
class are interchangeable, so a partial plan is summed up by the multiset S of classes it uses (a point
of the lattice prod(count_c + 1)). Stages are placed right to left, so the k-th stage from the end holds
q = min(microbatches, k) microbatches in flight whatever the plan's length.

- One network for every class pair (the cut times do not depend on the two classes): for each S, the
  leftmost position from which the layers to the end can be covered with S. Leftmost is best: a plan
  for [p', L) with p' < p also covers [p, L) with a subset of S once its stage over p is cut at p (a
  cut every plan may use), and dropping stages only lowers the in-flight counts of those left of them.
- Class-dependent cut times: the same with the class of the suffix's first stage in the state and the
  set of reachable starts as a boolean row, since a cut that one class pair may use another may not.

The least feasible B is one of the finitely many candidate values (stage times and cut times), found
by bisection over them, so the answer is exact. The same DP with B = infinity decides whether the
layers fit the devices' memory at all, and how far from the end they do (explain.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from solver.engine.budget import Deadline
from solver.pipeline.problem import Placement, Problem

MAX_LATTICE = 400_000  # lattice points times classes, scalar DP
MAX_BITSET = 30_000_000  # lattice points times classes times positions, boolean DP


@dataclass
class Lattice:
    dims: list[int]  # count of each class capped at kmax, plus 1
    strides: np.ndarray
    size: int
    levels: list[np.ndarray]  # flat indices by number of stages
    digits: np.ndarray  # [size, C]


def lattice(p: Problem) -> Lattice | None:
    counts = [min(c.count, p.kmax) for c in p.classes]
    dims = [c + 1 for c in counts]
    size = math.prod(dims)
    if size * p.C > MAX_LATTICE:
        return None
    strides = np.ones(p.C, dtype=np.int64)
    for c in range(p.C - 2, -1, -1):
        strides[c] = strides[c + 1] * dims[c + 1]
    flat = np.arange(size, dtype=np.int64)
    digits = np.stack([(flat // strides[c]) % dims[c] for c in range(p.C)], axis=1)
    total = digits.sum(axis=1)
    levels = [np.flatnonzero(total == s) for s in range(min(p.kmax, int(total.max())) + 1)]
    return Lattice(dims, strides, size, levels, digits)


def extensions(
    p: Problem, lat: Lattice, deadline: Deadline | None, stage: str
) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """(level, q, class, rows): for each number of stages placed so far (right to left) and each class, the
    lattice states of that level with a device of the class left, and the in-flight count q of the stage
    to add; the deadline is checked at every level."""
    for s, idx in enumerate(lat.levels):
        if s >= p.kmax:
            break
        if deadline is not None:
            deadline.check(stage)
        q = min(p.microbatches, s + 1) if p.training else 1
        for c in range(p.C):
            rows = idx[lat.digits[idx, c] < lat.dims[c] - 1]
            if rows.size:
                yield s, q, c, rows


def work_estimate(p: Problem, lat: Lattice | None, scalar: bool | None = None) -> float:
    """Elementary operations of one feasibility test (for deciding whether the DP pays; inf when its
    table exceeds MAX_BITSET); scalar: the DP with one cut time for every class pair [default: when the
    problem has one]."""
    if lat is None:
        return math.inf
    if p.uniform_cut is not None if scalar is None else scalar:
        return lat.size * p.C * 30.0 + len(lat.levels) * p.C * 3000.0
    if lat.size * p.C * (p.L + 1) > MAX_BITSET:  # its boolean table would not fit in memory
        return math.inf
    return lat.size * p.C * (p.C + 8) * (p.L + 1) * 1.0 + len(lat.levels) * p.C * 3000.0


def leftmost(p: Problem, t: int, memory: int, q: int, budget: float, ends: np.ndarray) -> np.ndarray:
    """For each end e: the least start i <= e of a stage [i, e) on type t that computes within budget and
    fits memory with q microbatches in flight (i == e: not even one layer fits)."""
    P = p.prefix[t]
    ends = np.asarray(ends, dtype=np.int64)
    if math.isinf(budget):
        i = np.zeros_like(ends)
    else:
        i = np.minimum(np.searchsorted(P, P[ends] - budget, side="left"), ends)
        i = _settle(i, ends, lambda a, b: P[b] - P[a] <= budget)
    z = p.factor * p.W.astype(np.float64) + q * p.A.astype(np.float64)
    j = np.minimum(np.searchsorted(z, z[ends] - memory, side="left"), ends)
    j = _settle(j, ends, lambda a, b: p.memory_vec(a, b, q) <= memory)
    return np.maximum(i, j)


def _settle(i: np.ndarray, ends: np.ndarray, ok) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Move each start to the least one `ok` accepts (the vectorised guess can be off by rounding)."""
    i = i.copy()
    while True:
        down = (i > 0) & ok(np.maximum(i - 1, 0), ends)
        if not down.any():
            break
        i[down] -= 1
    while True:
        up = (i < ends) & ~ok(i, ends)
        if not up.any():
            break
        i[up] += 1
    return i


def on_devices(p: Problem, stages: list[tuple[int, int, int]]) -> Placement:
    """Stages (a, b, class) left to right on devices: each class's devices in instance order."""
    used = [0] * p.C
    out = []
    for a, b, c in stages:
        out.append((a, b, p.classes[c].devices[used[c]]))
        used[c] += 1
    return out


class Reach:
    """feasible(B) for one problem, with the lattice and per-(class, q) tables built on demand."""

    def __init__(
        self, p: Problem, lat: Lattice, deadline: Deadline | None = None, cut: np.ndarray | None = None
    ):
        """cut: one cut time per position for every class pair (default: the problem's, if it has one);
        the least over the pairs gives a relaxation whose least bottleneck is a lower bound."""
        self.p = p
        self.cut = p.uniform_cut if cut is None else cut
        self.lat = lat
        self.deadline = deadline
        self.positions = np.arange(p.L + 1, dtype=np.int64)
        self.g = np.zeros(0, dtype=np.int64)
        self.starts: dict[tuple[int, int], np.ndarray] = {}
        self.F = np.zeros((0, 0, 0), dtype=bool)
        self.left: dict[tuple[int, int], np.ndarray] = {}
        self.ok_cut: dict[tuple[int, int], np.ndarray] = {}

    def q_of(self, level: int) -> int:
        p = self.p
        return min(p.microbatches, level + 1) if p.training else 1

    def _left(self, budget: float) -> dict[tuple[int, int], np.ndarray]:
        p = self.p
        out = {}
        qs = sorted({self.q_of(s) for s in range(len(self.lat.levels))})
        for c, cls in enumerate(p.classes):
            for q in qs:
                out[(c, q)] = leftmost(p, cls.type, cls.memory, q, budget, self.positions)
        return out

    def feasible(self, budget: float) -> Placement | None:
        if self.cut is not None:
            return self._scalar(budget)
        return self._bitset(budget)

    # one network ------------------------------------------------------------------------------
    def _scalar(self, budget: float, explain: bool = False) -> Placement | None:
        p, lat = self.p, self.lat
        cut = self.cut
        assert cut is not None
        allowed = cut <= budget
        allowed[0] = True
        big = p.L + 1
        mark = np.where(allowed, self.positions, big)
        next_allowed = np.minimum.accumulate(mark[::-1])[::-1]
        left = self._left(budget)
        starts = {key: next_allowed[v] for key, v in left.items()}  # new suffix start, or >= end: none
        g = np.full(lat.size, big, dtype=np.int64)
        g[0] = p.L
        for s, idx in enumerate(lat.levels):
            if s >= p.kmax:
                break
            if self.deadline is not None:
                self.deadline.check("bottleneck search")
            q = self.q_of(s)
            pos = g[idx]
            live = pos <= p.L
            if not live.any():
                continue
            for c in range(p.C):
                sel = live & (lat.digits[idx, c] < lat.dims[c] - 1)
                if not sel.any():
                    continue
                pp = pos[sel]
                ns = starts[(c, q)][pp]
                ok = ns < pp
                if ok.any():
                    np.minimum.at(g, idx[sel][ok] + lat.strides[c], ns[ok])
        self.g, self.starts = g, starts
        done = np.flatnonzero(g == 0)
        if not done.size:
            return None
        return self._scalar_back(int(done[0]))

    def _scalar_back(self, state: int) -> Placement:
        """The stages of the suffix g[state].. of the model that `state` reaches, left to right."""
        p, lat, g, starts = self.p, self.lat, self.g, self.starts
        stages: list[tuple[int, int, int]] = []  # (a, b, class) left to right
        while state != 0:
            level = int(lat.digits[state].sum())
            q = self.q_of(level - 1)
            for c in range(p.C):
                if lat.digits[state, c] == 0:
                    continue
                prev = state - int(lat.strides[c])
                end = int(g[prev])
                if end <= p.L and int(starts[(c, q)][end]) == int(g[state]) and g[state] < end:
                    stages.append((int(g[state]), end, c))
                    state = prev
                    break
            else:  # pragma: no cover - the DP guarantees a predecessor
                raise RuntimeError("bottleneck DP: no predecessor")
        return on_devices(self.p, stages)

    # class-dependent cuts ---------------------------------------------------------------------
    def _bitset(self, budget: float) -> Placement | None:
        p, lat = self.p, self.lat
        L = p.L
        left = self._left(budget)
        ok_cut = {}
        for (x, y), cut in p.class_pairs.items():
            row = cut <= budget
            row[0] = row[L] = False
            ok_cut[(x, y)] = row
        F = np.zeros((lat.size, p.C, L + 1), dtype=bool)
        self.F, self.left, self.ok_cut = F, left, ok_cut
        for s, q, v, rows in extensions(p, lat, self.deadline, "bottleneck search"):
            Y = self._ends(rows, v, s)
            cover = self._cover(Y, left[(v, q)])
            if cover[:, 0].any():
                r = int(np.flatnonzero(cover[:, 0])[0])
                return self._bitset_back(int(rows[r]), v, 0, s)
            F[rows + lat.strides[v], v, 1:L] |= cover[:, 1:L]
        return None

    def _ends(self, rows: np.ndarray, v: int, level: int) -> np.ndarray:
        """Where a class-v stage may end, for each state: the start of the suffix, if the cut there from
        v to the suffix's first class is fast enough (the end of the model for the empty suffix)."""
        p = self.p
        Y = np.zeros((rows.size, p.L + 1), dtype=bool)
        if level == 0:
            Y[:, p.L] = True
            return Y
        for w in range(p.C):
            row = self.ok_cut.get((v, w))
            if row is not None:
                Y |= self.F[rows, w, :] & row[None, :]
        return Y

    def _cover(self, Y: np.ndarray, left: np.ndarray) -> np.ndarray:
        """cover[r, i]: a stage starting at i can end at some allowed end of row r."""
        L = self.p.L
        big = L + 1
        marks = np.where(Y, self.positions[None, :], big)
        nxt = np.minimum.accumulate(marks[:, ::-1], axis=1)[:, ::-1]  # least allowed end >= i
        after = np.full_like(nxt, big)
        after[:, :-1] = nxt[:, 1:]  # least allowed end > i
        valid = after <= L
        lm = np.where(valid, left[np.minimum(after, L)], big)
        return valid & (lm <= self.positions[None, :])

    def _bitset_back(self, state: int, v: int, start: int, level: int) -> Placement:
        """Rebuild from a class-v stage that starts at `start` in `state` (level = stages in state)."""
        p, lat = self.p, self.lat
        stages: list[tuple[int, int, int]] = []
        while True:
            Y = self._ends(np.array([state]), v, level)[0]
            later = np.flatnonzero(Y[start + 1 :])
            end = start + 1 + int(later[0])
            stages.append((start, end, v))
            if level == 0:
                break
            for w in range(p.C):
                row = self.ok_cut.get((v, w))
                if row is not None and row[end] and self.F[state, w, end]:
                    v, start = w, end
                    state -= int(lat.strides[w])
                    level -= 1
                    break
            else:  # pragma: no cover
                raise RuntimeError("bottleneck DP: no predecessor")
        return on_devices(self.p, stages)

    # memory only ------------------------------------------------------------------------------
    def memory_reach(self) -> tuple[int, Placement]:
        """With no time limit: the leftmost layer from which the layers to the end fit the devices, and
        a placement of that suffix (empty when not even the last layer fits)."""
        p, lat = self.p, self.lat
        plan = self.feasible(math.inf)
        if plan is not None:
            return 0, plan
        if self.cut is None:
            best, where = p.L, None
            for state in range(lat.size):
                for w in range(p.C):
                    hits = np.flatnonzero(self.F[state, w, 1 : p.L])
                    if hits.size and hits[0] + 1 < best:
                        best, where = int(hits[0]) + 1, (state, w)
            if where is None:
                return p.L, []
            state, w = where
            level = int(lat.digits[state].sum())
            prev = state - int(lat.strides[w])
            return best, self._bitset_back(prev, w, best, level - 1)
        state = int(np.argmin(self.g))
        if self.g[state] >= p.L:
            return p.L, []
        return int(self.g[state]), self._scalar_back(state)


def candidates(p: Problem, upper: float) -> np.ndarray:
    """Every stage time and cut time up to `upper`, sorted and unique: the least bottleneck is one."""
    vals = []
    pos = np.arange(p.L + 1, dtype=np.int64)
    for t in range(p.T):
        P = p.prefix[t]
        lo = np.searchsorted(P, P - upper, side="left") if math.isfinite(upper) else np.zeros_like(pos)
        for e in range(1, p.L + 1):  # stage [i, e) for i in [lo[e], e)
            a = int(min(lo[e], e - 1))
            seg = P[e] - P[a:e]
            vals.append(seg[seg <= upper])
    for cut in p.class_pairs.values():
        inner = cut[1 : p.L]
        vals.append(inner[inner <= upper])
    if not vals:
        return np.zeros(0)
    return np.unique(np.concatenate(vals))


@dataclass
class SearchResult:
    bottleneck: float | None  # None: no plan fits at all
    placement: Placement | None
    tests: int
    candidates: int


def least_bottleneck(
    p: Problem, reach: Reach, upper: float, lower: float, deadline: Deadline | None = None
) -> SearchResult:
    """The least feasible candidate in [lower, upper] (upper: a known plan's bottleneck, or inf)."""
    cands = candidates(p, upper * (1 + 1e-12) if math.isfinite(upper) else math.inf)
    cands = cands[cands >= lower * (1 - 1e-12)]
    tests = 0
    lo, hi = 0, len(cands) - 1
    best: Placement | None = None
    best_value: float | None = None
    if hi < 0:
        return SearchResult(None, None, 0, 0)
    plan = reach.feasible(float(cands[hi]))
    tests += 1
    if plan is None:
        return SearchResult(None, None, tests, len(cands))
    best, best_value = plan, float(cands[hi])
    while lo < hi:
        if deadline is not None:
            deadline.check("bottleneck search")
        mid = (lo + hi) // 2
        plan = reach.feasible(float(cands[mid]))
        tests += 1
        if plan is None:
            lo = mid + 1
        else:
            best, best_value, hi = plan, float(cands[mid]), mid
    return SearchResult(best_value, best, tests, len(cands))
