"""Incremental future-memory bookkeeping for the guarded heuristics: admit or preempt one request at a time
and read the new peak of every scenario in O(S) per candidate.

Per scenario the lifetimes of all requests (running and waiting) sorted ascending form a grid; the peak
of any batch is reached at one of them (memory only grows between two lifetimes). M[s, g] is the batch's
memory at step grid[s, g]. Adding a request with lifetime l adds held + t at every grid point t <= l;
a resident shared prefix adds its tokens where no other holder already keeps it alive. With
PM = running max of (M + t) and SM = max of M from a point on, the peak after adding request i (no
prefix extension) is max(PM at its lifetime + held, SM after it).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from solver.batching.problem import Problem


class Grid:
    """Items: the running requests, then the waiting requests of `pool` (default: all); `item[j]` is the
    item of waiting request j (-1 outside the pool)."""

    def __init__(self, p: Problem, kept: np.ndarray, pool: np.ndarray | None = None):
        self.p = p
        pool = np.arange(p.nw) if pool is None else np.asarray(pool, dtype=np.int64)
        self.item = np.full(p.nw, -1, dtype=np.int64)
        self.item[pool] = p.nr + np.arange(len(pool))
        life = np.concatenate([p.life[:, : p.nr], p.life[:, p.nr + pool]], axis=1)
        self.life = life
        self.held = np.concatenate([p.r_held, p.w_held[pool]])
        self.owner = np.concatenate([p.r_prefix, p.w_prefix[pool]])
        s, n = life.shape
        # the items in the problem's lifetime order (a filter of it: no sort), as item numbers
        member = np.zeros(p.nr + p.nw, dtype=bool)
        member[: p.nr] = True
        member[p.nr + pool] = True
        to_item = np.zeros(p.nr + p.nw, dtype=np.int64)
        to_item[: p.nr] = np.arange(p.nr)
        to_item[p.nr + pool] = p.nr + np.arange(len(pool))
        order = to_item[p.ordered(member)]
        self.t = np.take_along_axis(life, order, axis=1)
        # each item's grid point: the last position holding its lifetime (ties share the last one)
        idx = np.broadcast_to(np.arange(n), (s, n))
        last = np.where(
            np.concatenate([self.t[:, 1:] != self.t[:, :-1], np.ones((s, 1), bool)], axis=1), idx, n
        )
        last = np.minimum.accumulate(last[:, ::-1], axis=1)[:, ::-1]
        pos = np.empty((s, n), dtype=np.int64)
        np.put_along_axis(pos, order, last, axis=1)
        self.pos = pos
        self.cols = np.arange(n)
        self.present = np.zeros(n, dtype=bool)
        self.present[: p.nr] = kept
        # memory of the kept running requests at every grid point, by suffix sums over their positions
        idx = np.flatnonzero(kept)
        flat = (np.arange(s)[:, None] * (n + 1) + pos[:, idx]).ravel()
        m = np.bincount(flat, weights=np.tile(self.held[idx], s), minlength=s * (n + 1))
        m = m.reshape(s, n + 1).astype(np.int64)
        g = np.bincount(flat, minlength=s * (n + 1)).reshape(s, n + 1)
        m = np.cumsum(m[:, ::-1], axis=1)[:, ::-1][:, :n]
        g = np.cumsum(g[:, ::-1], axis=1)[:, ::-1][:, :n]
        self.m = m + self.t * g
        # PM and SM live in buffers refreshed in place (SM has a sentinel column past the last point)
        self.pm = np.empty((s, n), dtype=np.int64)
        self.sm = np.full((s, n + 1), np.iinfo(np.int64).min // 4, dtype=np.int64)
        self.px_life = np.zeros((s, len(p.px_ids)), dtype=np.int64)
        for x in range(len(p.px_ids)):
            members = np.flatnonzero(self.present & (self.owner == x))
            if len(members):
                self._extend(x, life[:, members].max(axis=1))
        self._refresh()

    def copy(self) -> Grid:
        other = Grid.__new__(Grid)
        other.__dict__.update(self.__dict__)
        other.present = self.present.copy()
        other.m = self.m.copy()
        other.px_life = self.px_life.copy()
        other.pm, other.sm = self.pm.copy(), self.sm.copy()
        return other

    def _refresh(self) -> None:
        np.add(self.m, self.t, out=self.pm)
        np.maximum.accumulate(self.pm, axis=1, out=self.pm)
        np.maximum.accumulate(self.m[:, ::-1], axis=1, out=self.sm[:, -2::-1])

    def _extend(self, x: int, new_life: np.ndarray) -> None:
        """The prefix x now lives until new_life (per scenario): add its tokens beyond its old life."""
        old = self.px_life[:, x]
        grow = (self.t > old[:, None]) & (self.t <= new_life[:, None])
        self.m += grow * self.p.px_held[x]
        self.px_life[:, x] = np.maximum(old, new_life)

    def _shrink(self, x: int, new_life: np.ndarray) -> None:
        old = self.px_life[:, x]
        cut = (self.t > new_life[:, None]) & (self.t <= old[:, None])
        self.m -= cut * self.p.px_held[x]
        self.px_life[:, x] = new_life

    def peak(self) -> np.ndarray:
        return self.sm[:, 0].copy()  # the buffer changes with the batch

    def _mask(self, i: int) -> np.ndarray:
        return self.cols[None, :] <= self.pos[:, i][:, None]

    def peak_with(self, i: int) -> np.ndarray:
        """[S] peak if item i (a running index, or self.item[j] for waiting j) joined the batch."""
        x = int(self.owner[i])
        if x >= 0 and (self.life[:, i] > self.px_life[:, x]).any():
            m = self.m + self._mask(i) * (self.held[i] + self.t)
            grow = (self.t > self.px_life[:, x][:, None]) & (self.t <= self.life[:, i][:, None])
            return (m + grow * self.p.px_held[x]).max(axis=1)
        rows = np.arange(self.t.shape[0])
        pos = self.pos[:, i]
        return np.maximum(self.pm[rows, pos] + self.held[i], self.sm[rows, pos + 1])

    def peak_without(self, i: int) -> np.ndarray:
        other = self.copy()
        other.remove(i)
        return other.peak()

    def memory_with(self, items: list[int]) -> np.ndarray:
        """[S, points] the memory if the requests `items` (none holding a shared prefix) joined: each adds
        its held tokens plus the step at every point up to its own, by suffix sums over their points."""
        s, n = self.t.shape
        idx = np.asarray(items, dtype=np.int64)
        flat = (self.pos[:, idx] + (np.arange(s) * n)[:, None]).ravel()
        held = np.bincount(flat, weights=np.tile(self.held[idx], s).astype(np.float64), minlength=s * n)
        count = np.bincount(flat, minlength=s * n)
        held = np.cumsum(held.reshape(s, n)[:, ::-1], axis=1)[:, ::-1]
        count = np.cumsum(count.reshape(s, n)[:, ::-1], axis=1)[:, ::-1]
        return self.m + held.astype(np.int64) + self.t * count

    def longest_joining(
        self, items: list[int], keeps: Callable[[np.ndarray], bool]
    ) -> tuple[int, np.ndarray]:
        """The longest head of `items` (none holding a shared prefix) whose memory `keeps` accepts, with
        that memory; `keeps` must be monotone (a head of an accepted head is accepted): binary search."""
        m = self.memory_with(items)
        if keeps(m):
            return len(items), m
        lo, hi, best = 0, len(items) - 1, self.m
        while lo < hi:
            mid = (lo + hi + 1) // 2
            m = self.memory_with(items[:mid])
            if keeps(m):
                lo, best = mid, m
            else:
                hi = mid - 1
        return lo, best

    def add_memory(self, items: list[int], m: np.ndarray) -> None:
        """Admit `items` at once, given memory_with(items)."""
        self.m = m
        self.present[items] = True
        self._refresh()

    def add(self, i: int) -> None:
        np.add(self.m, self.t + self.held[i], out=self.m, where=self._mask(i))
        self.present[i] = True
        x = int(self.owner[i])
        if x >= 0:
            self._extend(x, np.maximum(self.px_life[:, x], self.life[:, i]))
        self._refresh()

    def remove(self, i: int) -> None:
        np.subtract(self.m, self.t + self.held[i], out=self.m, where=self._mask(i))
        self.present[i] = False
        x = int(self.owner[i])
        if x >= 0:
            members = np.flatnonzero(self.present & (self.owner == x))
            rest = self.life[:, members].max(axis=1) if len(members) else np.zeros(self.t.shape[0], np.int64)
            self._shrink(x, rest)
        self._refresh()
