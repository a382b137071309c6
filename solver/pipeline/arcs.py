"""The data of the exact formulations: stages as arcs of a path from position 0 to position L.

An arc (a, b, c) is a stage [a, b) on a device of class c; a plan is a path 0 -> L of arcs, at most
count(c) arcs of each class. With one network for every pair, the transfer of the cut at b (b < L) rides
on the arc (its `send`); otherwise each cut j gets pair arcs (j, x, y): the stage ending at j is of
class x and the one starting there of class y. An arc exists only if the stage fits its device's memory. In
training the memory depends on the stages from it to the last (r; q = min(microbatches, r) in flight), so
arcs carry a state s = min(S, r) with S = min(microbatches, kmax): an arc of state s < S is followed by
one of state s - 1 (the last stage has state 1), an arc of state S by one of state S or S - 1, and an arc
of state s exists only if the stage fits with s microbatches in flight (one state when nothing depends
on it). Arcs can be capped by a bottleneck (no stage or
cut above it) and by a latency (no arc that cannot be on a plan within it, from the per-layer least
times and the least transfer of each cut).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from solver.engine.errors import EngineDeclined
from solver.pipeline.bottleneck import leftmost
from solver.pipeline.problem import Placement, Problem

MAX_ARCS = 120_000
MAX_PAIR_ARCS = 200_000


@dataclass
class ArcSet:
    a: np.ndarray
    b: np.ndarray
    cls: np.ndarray
    compute: np.ndarray
    send: np.ndarray  # transfer of the cut at b when it rides on the arc (one network), else 0
    state: np.ndarray  # s = min(S, stages from this one to the last), 1..S (training memory)
    # pair arcs of class-dependent cuts: cut position, from class, to class, time
    cut_j: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cut_x: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cut_y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cut_ms: np.ndarray = field(default_factory=lambda: np.zeros(0))
    uniform: bool = True
    states: int = 1  # S
    index: dict[tuple[int, int, int, int], int] = field(default_factory=dict)  # (a, b, class, state)
    cut_index: dict[tuple[int, int, int], int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.a.size)

    @property
    def bott(self) -> np.ndarray:
        return np.maximum(self.compute, self.send)

    @property
    def lat(self) -> np.ndarray:
        return self.compute + self.send


def build(p: Problem, max_bottleneck: float = math.inf, max_latency: float = math.inf) -> ArcSet:
    cut = p.uniform_cut
    L = p.L
    pos = np.arange(L + 1, dtype=np.int64)
    pre = np.concatenate([[0.0], np.cumsum(p.min_time)])
    suf = pre[L] - pre
    min_cut = p.min_cut
    cap_b = max_bottleneck * (1 + 1e-12) if math.isfinite(max_bottleneck) else math.inf
    cap_l = max_latency * (1 + 1e-9) if math.isfinite(max_latency) else math.inf
    parts: list[tuple[np.ndarray, ...]] = []
    total = 0
    for c, cls in enumerate(p.classes):
        P = p.prefix[cls.type]
        # the least start of a stage ending at each b (bottleneck cap and memory with q = 1)
        first = leftmost(
            p, cls.type, cls.memory, 1, max_bottleneck if math.isfinite(cap_b) else math.inf, pos
        )
        counts = np.maximum(pos - first, 0)
        total += int(counts.sum())
        if total > MAX_ARCS * 4:
            raise EngineDeclined(_too_many(p, total, max_bottleneck))
        b = np.repeat(pos, counts)
        a = b - (np.arange(b.size) - np.repeat(np.cumsum(counts) - counts, counts)) - 1
        compute = P[b] - P[a]
        send = np.zeros(b.size) if cut is None else np.where(b < L, cut[b], 0.0)
        keep = (compute <= cap_b) & (send <= cap_b)
        if math.isfinite(cap_l):
            cut_in = np.where(a > 0, min_cut[a], 0.0)
            cut_out = send if cut is not None else np.where(b < L, min_cut[b], 0.0)
            keep &= pre[a] + cut_in + compute + cut_out + suf[b] <= cap_l
        keep &= np.isfinite(send)
        a, b, compute, send = a[keep], b[keep], compute[keep], send[keep]
        parts.append(
            (a, b, np.full(a.size, c, dtype=np.int64), compute, send, np.ones(a.size, dtype=np.int64))
        )
    states = _states(p, parts)
    if states > 1:
        parts = _layered(p, parts, states)
    a, b, cls_arr, compute, send, state = (np.concatenate(x) for x in zip(*parts, strict=True))
    if a.size > MAX_ARCS:
        raise EngineDeclined(_too_many(p, int(a.size), max_bottleneck))
    out = ArcSet(a, b, cls_arr, compute, send, state, uniform=cut is not None, states=states)
    out.index = {
        key: k
        for k, key in enumerate(zip(a.tolist(), b.tolist(), cls_arr.tolist(), state.tolist(), strict=True))
    }
    if cut is None:
        _pair_arcs(p, out, cap_b)
    return out


def _states(p: Problem, parts: list[tuple[np.ndarray, ...]]) -> int:
    """S: the in-flight counts that make a difference to some arc's memory (1 when none does)."""
    if not p.training or p.microbatches == 1 or p.kmax == 1 or int(p.A[-1]) == 0:
        return 1
    top = min(p.microbatches, p.kmax)
    for c, (a, b, *_rest) in enumerate(parts):
        if a.size and (p.memory_vec(a, b, top) > p.classes[c].memory).any():
            return top
    return 1


def _layered(p: Problem, parts: list[tuple[np.ndarray, ...]], states: int) -> list[tuple[np.ndarray, ...]]:
    """Each arc once per state s it fits with s microbatches in flight; a state-s stage needs s - 1 more
    stages after it (so it ends by L - s + 1), and only state 1 ends the model."""
    out: list[tuple[np.ndarray, ...]] = []
    for c, (a, b, cls_arr, compute, send, _) in enumerate(parts):
        for s in range(1, states + 1):
            keep = (p.memory_vec(a, b, s) <= p.classes[c].memory) & (b <= p.L - s + 1)
            keep &= (b == p.L) if s == 1 else (b < p.L)
            out.append(
                (a[keep], b[keep], cls_arr[keep], compute[keep], send[keep], np.full(int(keep.sum()), s))
            )
    return out


def flow_rows(arcs: ArcSet, L: int) -> list[tuple[list[int], list[int], int]]:
    """(plus, minus, rhs): sum of x over plus - sum over minus == rhs, for the path and its states."""
    S = arcs.states
    out_at: dict[tuple[int, int], list[int]] = {}
    in_at: dict[tuple[int, int], list[int]] = {}
    for k, (a, b, s) in enumerate(zip(arcs.a.tolist(), arcs.b.tolist(), arcs.state.tolist(), strict=True)):
        out_at.setdefault((a, s), []).append(k)
        in_at.setdefault((b, s), []).append(k)
    rows: list[tuple[list[int], list[int], int]] = [
        ([k for s in range(1, S + 1) for k in out_at.get((0, s), [])], [], 1),
        ([k for s in range(1, S + 1) for k in in_at.get((L, s), [])], [], 1),
    ]
    for j in range(1, L):
        if S == 1:
            rows.append((out_at.get((j, 1), []), in_at.get((j, 1), []), 0))
            continue
        for s in range(1, S - 1):  # a state-(s + 1) stage is followed by a state-s one
            rows.append((out_at.get((j, s), []), in_at.get((j, s + 1), []), 0))
        rows.append((out_at.get((j, S - 1), []) + out_at.get((j, S), []), in_at.get((j, S), []), 0))
    return [r for r in rows if r[0] or r[1] or r[2]]


def _pair_arcs(p: Problem, arcs: ArcSet, cap: float) -> None:
    L = p.L
    ends = np.zeros((p.C, L + 1), dtype=bool)
    starts = np.zeros((p.C, L + 1), dtype=bool)
    ends[arcs.cls, arcs.b] = True
    starts[arcs.cls, arcs.a] = True
    ends[:, L] = starts[:, 0] = False
    parts = []
    total = 0
    for (x, y), cut in p.class_pairs.items():
        js = np.flatnonzero((cut <= cap) & ends[x] & starts[y])
        total += js.size
        if total > MAX_PAIR_ARCS:
            raise EngineDeclined(
                f"{total}+ cut arcs between {p.C} device classes over {L} layers exceed the limit of "
                f"{MAX_PAIR_ARCS}: the network makes the devices distinct"
            )
        parts.append((js, np.full(js.size, x), np.full(js.size, y), cut[js]))
    if parts:
        arcs.cut_j, arcs.cut_x, arcs.cut_y, arcs.cut_ms = (
            np.concatenate(z) for z in zip(*parts, strict=True)
        )
        arcs.cut_j, arcs.cut_x, arcs.cut_y = (
            z.astype(np.int64) for z in (arcs.cut_j, arcs.cut_x, arcs.cut_y)
        )
    arcs.cut_index = {
        (j, x, y): k
        for k, (j, x, y) in enumerate(
            zip(arcs.cut_j.tolist(), arcs.cut_x.tolist(), arcs.cut_y.tolist(), strict=True)
        )
    }


def _too_many(p: Problem, n: int, cap: float) -> str:
    within = f" within a bottleneck of {cap:.6g} ms" if math.isfinite(cap) else ""
    return (
        f"{n} stage arcs ({p.L} layers x {p.C} device classes{within}) exceed the limit of {MAX_ARCS}; "
        "the memory of the devices allows long stages"
    )


def decode(p: Problem, arcs: ArcSet, chosen: list[int]) -> Placement:
    """The path of chosen arcs from position 0, each class's stages on its devices in order."""
    by_start = {int(arcs.a[k]): k for k in chosen}
    out: Placement = []
    used = [0] * p.C
    pos = 0
    while pos < p.L:
        k = by_start[pos]
        c = int(arcs.cls[k])
        out.append((pos, int(arcs.b[k]), p.classes[c].devices[used[c]]))
        used[c] += 1
        pos = int(arcs.b[k])
    return out


def state_of(arcs: ArcSet, stage: int, stages: int) -> int:
    return min(arcs.states, stages - stage)


@dataclass
class Incidence:
    """Which arcs leave and enter each position, and which cut arcs sit at it: the rows both
    formulations write their constraints over."""

    out_at: list[list[int]]
    in_at: list[list[int]]
    cut_at: list[list[int]]


def incidence(arcs: ArcSet, L: int) -> Incidence:
    out_at: list[list[int]] = [[] for _ in range(L + 1)]
    in_at: list[list[int]] = [[] for _ in range(L + 1)]
    cut_at: list[list[int]] = [[] for _ in range(L + 1)]
    for k, (a, b) in enumerate(zip(arcs.a.tolist(), arcs.b.tolist(), strict=True)):
        out_at[a].append(k)
        in_at[b].append(k)
    for i, j in enumerate(arcs.cut_j.tolist()):
        cut_at[j].append(i)
    return Incidence(out_at, in_at, cut_at)


def start_values(p: Problem, arcs: ArcSet, placement: Placement | None) -> tuple[list[int], list[int]] | None:
    """A placement as 0/1 values of the stage arcs and the cut arcs (None when it uses an arc not in the
    set), for a warm start."""
    if placement is None:
        return None
    found = arcs_of(p, arcs, placement)
    if found is None:
        return None
    x, y = [0] * arcs.n, [0] * arcs.cut_j.size
    for k in found[0]:
        x[k] = 1
    for i in found[1]:
        y[i] = 1
    return x, y


def start_bottleneck(xs: list[int], ys: list[int], bott: np.ndarray, cut: np.ndarray) -> float:
    """The bottleneck variable's start value: the largest time of a chosen stage arc or cut arc."""
    return float(max((bott * xs).max(initial=0), (cut * ys).max(initial=0)))


def forbidden(arcs: ArcSet, threshold_ms: float) -> tuple[list[int], list[int]]:
    """The stage arcs and cut arcs whose time reaches threshold_ms: what a plan strictly below that
    bottleneck cannot use."""
    limit = threshold_ms * (1 - 1e-12)
    return np.flatnonzero(arcs.bott >= limit).tolist(), np.flatnonzero(arcs.cut_ms >= limit).tolist()


def arcs_of(p: Problem, arcs: ArcSet, placement: Placement) -> tuple[list[int], list[int]] | None:
    """The arc and cut-arc indices of a placement (None when one of them is not in the set)."""
    chosen = []
    cuts = []
    k = len(placement)
    for s, (a, b, d) in enumerate(placement):
        idx = arcs.index.get((a, b, p.class_of[d], state_of(arcs, s, k)))
        if idx is None:
            return None
        chosen.append(idx)
        if not arcs.uniform and s + 1 < k:
            m = arcs.cut_index.get((b, p.class_of[d], p.class_of[placement[s + 1][2]]))
            if m is None:
                return None
            cuts.append(m)
    return chosen, cuts
