"""Free capacity over time as a step function: breakpoints and the free amount on each segment.

Segment k is [times[k], times[k+1]) (the last one never ends) and free[q, k] is what resource row q
still has there. Rows are the renewable resources, then one capacity-1 row per disjunctive set.
Calendar windows start as reduced segments; scheduled tasks subtract their demand. The size grows with
the number of tasks placed, never with the length of the horizon, so second- or year-scale times cost
the same as unit ones. Every search is a few numpy operations over the segments.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

NO_END = np.iinfo(np.int64).max // 4


class Profile:
    def __init__(self, cap: np.ndarray, windows: Iterable[tuple[int, int, int, int]] = ()):
        """cap: [Q] base capacity; windows: (row, start, end, capacity) with capacity <= cap[row].
        The searches take a task's full demand vector `dem` [Q] and the rows where it is positive."""
        self.times = np.zeros(1, dtype=np.int64)
        self.free = np.asarray(cap, dtype=np.int64).reshape(-1, 1).copy()
        for q, start, end, capacity in windows:
            if end > start:
                lo, hi = self._split(start), self._split(end)
                self.free[q, lo:hi] -= int(cap[q]) - capacity

    def copy(self) -> Profile:
        out = Profile.__new__(Profile)
        out.times = self.times.copy()
        out.free = self.free.copy()
        return out

    def _split(self, t: int) -> int:
        """Make t a breakpoint; return its segment index."""
        k = int(self.times.searchsorted(t, side="right")) - 1
        if self.times[k] == t:
            return k
        times, free = self.times, self.free
        self.times = np.concatenate((times[: k + 1], (t,), times[k + 1 :]))
        self.free = np.concatenate((free[:, : k + 1], free[:, k : k + 1], free[:, k + 1 :]), axis=1)
        return k + 1

    def reserve(self, start: int, duration: int, rows: np.ndarray, dem: np.ndarray) -> None:
        if duration <= 0 or not len(rows):
            return
        lo = self._split(start)
        hi = self._split(start + duration)
        if len(rows) == 1:
            self.free[rows[0], lo:hi] -= dem[rows[0]]
        else:
            self.free[rows[:, None], np.arange(lo, hi)[None, :]] -= dem[rows][:, None]

    def _fits(self, rows: np.ndarray, dem: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
        """Whether each segment in [lo, hi) has dem free on every row."""
        if len(rows) == 1:
            r = rows[0]
            return np.asarray(self.free[r, lo:hi] >= dem[r])
        return np.asarray((self.free[rows, lo:hi] >= dem[rows, None]).all(axis=0))

    def earliest(self, est: int, duration: int, rows: np.ndarray, dem: np.ndarray) -> int | None:
        """The earliest start >= est where [start, start + duration) has dem free on every row;
        None when no time ever has (a demand above the base capacity)."""
        if duration <= 0 or not len(rows):
            return est
        k0 = int(self.times.searchsorted(est, side="right")) - 1
        ok = self._fits(rows, dem, k0, None)
        bad = np.flatnonzero(~ok)
        if not len(bad):
            return est
        times = self.times[k0:]
        n = len(ok)
        if bad[0] > 0 and times[bad[0]] - est >= duration:  # the run holding est is long enough
            return est
        # the runs of free segments after each busy one: [times[b + 1], times[next busy])
        first = bad + 1
        after = np.append(bad[1:], n)
        real = first < after
        if not real.any():
            return None  # the last segment, open-ended, is busy: never
        first, after = first[real], after[real]
        start = times[first]
        end = np.where(after < n, times[np.minimum(after, n - 1)], NO_END)
        fits = end - start >= duration
        return int(start[int(fits.argmax())]) if fits.any() else None

    def latest(self, lft: int, duration: int, rows: np.ndarray, dem: np.ndarray, lst: int) -> int | None:
        """The latest start in [lst, lft - duration] where [start, start + duration) has dem free on
        every row; None when there is none."""
        if lft - duration < lst:
            return None
        if duration <= 0 or not len(rows):
            return lft - duration
        k1 = int(self.times.searchsorted(lft - 1, side="right")) - 1
        ok = self._fits(rows, dem, 0, k1 + 1)
        times = self.times[: k1 + 1]
        ends = np.append(self.times[1 : k1 + 1], lft)
        ends = np.minimum(ends, lft)
        bad = np.flatnonzero(~ok)
        prv = np.searchsorted(bad, np.arange(len(ok)), side="right") - 1  # last bad segment at or before
        run_start = np.zeros(len(ok), dtype=np.int64)
        inside = prv >= 0
        run_start[inside] = np.append(times, lft)[bad[prv[inside]] + 1]
        starts = ends - duration
        fits = ok & (run_start <= starts) & (starts >= lst)
        if not fits.any():
            return None
        return int(starts[len(fits) - 1 - int(np.argmax(fits[::-1]))])
