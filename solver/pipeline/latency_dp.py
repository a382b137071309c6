"""Exact least latency of a plan whose stages and cuts all stay within a cap: a DP over the class lattice.

Each step of the Pareto sweep asks this question; as one CP-SAT solve per step it cost 40-1600 ms on 100
layers, as this DP it costs milliseconds. Same lattice as bottleneck.py: stages are placed right to left,
so the k-th stage from the end holds min(microbatches, k) microbatches in flight whatever the plan's length.

f[S, c, i]: the least latency of covering layers [i, L) with the multiset S of device classes, the stage
at i on class c. A stage [i, j) on c is allowed when it computes within the cap and fits c's memory; both
grow with j, so its ends form a window [i + 1, r(i)] with r non-decreasing, and
    f[S + c, c, i] = -P_c[i] + min over j in the window of (P_c[j] + h[S, c, j]),
where h[S, c, j] is the cheapest way on from j: 0 at the end of the model (S empty), else the least over
classes c' of the cut from c to c' (within the cap) plus f[S, c', j]. The window minimum is a range-minimum
query on a sparse table, vectorised over every state of a level.
"""

from __future__ import annotations

import math

import numpy as np

from solver.engine.budget import Deadline
from solver.pipeline.bottleneck import Lattice, extensions, leftmost, on_devices
from solver.pipeline.problem import Placement, Problem

MAX_CELLS = 6_000_000  # lattice points x classes x positions: the DP's table (8 bytes each)


def cells(p: Problem, lat: Lattice | None) -> float:
    """Size of the DP's table (inf when there is no lattice): what decides whether it runs."""
    return math.inf if lat is None else float(lat.size * p.C * (p.L + 1))


def work(p: Problem, lat: Lattice | None) -> float:
    """Operations of one solve at 1e9 a second, for deterministic budgeting: per cell, the classes, the
    sparse table's levels and a few passes; per level and class, about 3000 for each numpy call. About
    twice the time measured here (1.3 ms to 0.19 s from 2.5k to 5.3M cells), so that a machine at half
    speed still stops on the nominal budget, not the clock."""
    if lat is None:
        return math.inf
    k = max(1, math.ceil(math.log2(p.L + 1)))
    calls = len(lat.levels) * p.C * (p.C + k + 12)
    return 2.0 * (cells(p, lat) * (p.C + 2 * k + 6) + 3000.0 * calls)


class LatencyDP:
    def __init__(self, p: Problem, lat: Lattice, deadline: Deadline | None = None):
        self.p, self.lat, self.deadline = p, lat, deadline
        self.positions = np.arange(p.L + 1, dtype=np.int64)
        self.f = np.zeros((0, 0, 0))
        self.cuts: dict[tuple[int, int], np.ndarray] = {}
        self.windows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.cap = math.inf

    def q_of(self, level: int) -> int:
        return min(self.p.microbatches, level + 1) if self.p.training else 1

    def _window(self, c: int, q: int, cap: float) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) per start i: the allowed ends of a class-c stage from i are lo..hi (empty if hi < lo)."""
        key = (c, q)
        if key not in self.windows:
            cls = self.p.classes[c]
            first = leftmost(self.p, cls.type, cls.memory, q, cap, self.positions)  # least start per end
            hi = (
                np.searchsorted(first, self.positions, side="right") - 1
            )  # the last end whose least start <= i
            self.windows[key] = (self.positions + 1, hi)
        return self.windows[key]

    def _onward(self, rows: np.ndarray, c: int, level: int) -> np.ndarray:
        """h[rows, c, :]: the latency from each position on, the next stage (if any) taken from `rows`."""
        L = self.p.L
        h = np.full((rows.size, L + 1), np.inf)
        if level == 0:
            h[:, L] = 0.0
            return h
        for c2 in range(self.p.C):
            cut = self.cuts.get((c, c2))
            if cut is not None:
                np.minimum(h, self.f[rows, c2, :] + cut[None, :], out=h)
        return h

    def solve(self, cap: float) -> Placement | None:
        """A plan of least latency among those with every stage and cut within `cap` (None: there is none)."""
        p, lat = self.p, self.lat
        L = p.L
        self.cap = cap
        self.windows = {}
        self.cuts = {}
        for pair, cut in p.class_pairs.items():
            row = np.where(cut <= cap, cut, np.inf)
            row[0] = row[L] = np.inf  # a cut sits strictly inside the model
            self.cuts[pair] = row
        f = self.f = np.full((lat.size, p.C, L + 1), np.inf)
        best, best_at = math.inf, None
        for s, q, c, rows in extensions(p, lat, self.deadline, "latency DP"):
            lo, hi = self._window(c, q, cap)
            P = p.prefix[p.classes[c].type]
            value = P[None, :] + self._onward(rows, c, s)
            least = _range_min(value, lo, hi)  # [rows, L + 1]
            targets = rows + lat.strides[c]
            f[targets, c, :] = least - P[None, :]
            k = int(np.argmin(f[targets, c, 0]))
            if f[targets[k], c, 0] < best:
                best, best_at = float(f[targets[k], c, 0]), (int(targets[k]), c, s)
        if best_at is None:
            return None
        return self._back(*best_at)

    def _back(self, state: int, c: int, level: int) -> Placement:
        p, lat = self.p, self.lat
        stages: list[tuple[int, int, int]] = []
        i = 0
        while True:
            state -= int(lat.strides[c])
            lo, hi = self._window(c, self.q_of(level), self.cap)
            lo_i, hi_i = int(lo[i]), int(hi[i])
            P = p.prefix[p.classes[c].type]
            h = self._onward(np.array([state]), c, level)[0]
            j = lo_i + int(np.argmin(P[lo_i : hi_i + 1] + h[lo_i : hi_i + 1]))
            stages.append((i, j, c))
            if j == p.L:
                return on_devices(p, stages)
            ways = [
                (self.cuts[(c, c2)][j] + self.f[state, c2, j], c2)
                for c2 in range(p.C)
                if (c, c2) in self.cuts
            ]
            c = min(ways)[1]
            i, level = j, level - 1


def _range_min(value: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """out[r, i] = min of value[r, lo[i]..hi[i]] (inf where the range is empty), by a sparse table."""
    n = value.shape[1]
    tables = [value]
    width = 1
    while 2 * width <= n:
        prev = tables[-1]
        nxt = prev.copy()
        nxt[:, : n - width] = np.minimum(prev[:, : n - width], prev[:, width:])
        tables.append(nxt)
        width *= 2
    stack = np.stack(tables)  # [levels, rows, n]
    ok = hi >= lo
    length = np.where(ok, hi - lo + 1, 1)
    k = np.floor(np.log2(length)).astype(np.int64)
    a = np.where(ok, lo, 0)
    b = np.where(ok, hi - (1 << k) + 1, 0)
    out = np.minimum(stack[k, :, a], stack[k, :, b]).T  # advanced indices first: [n, rows] -> [rows, n]
    out[:, ~ok] = np.inf
    return out
