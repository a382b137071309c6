"""APEX-style exhaustive search over replica mixes, for small inventories: the reference the tests and the
benchmark hold the optimizer to.

It reads the candidate configurations (the cost model's or the measured ones, every one of them: no
dominance pruning) and nothing of the formulation. Per pool it enumerates every multiset of replicas
that actually packs into the pool's nodes (first fit, largest group first); pools are then combined
keeping, for each reachable capacity, the cheapest way (which is all the objective can tell apart).
min_cost stops adding replicas to a pool once that pool alone covers the demand (more can only cost
more). min_latency tries latency thresholds in increasing order, each a min_cost search over the
variants within the threshold. With a histogram (Mélange), every distribution of each bucket's slices
over the configurations is tried, each configuration getting the replicas its load needs.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

from solver.parallelism.check import first_fit
from solver.parallelism.problem import (
    LATENCY_SCALE,
    LEVELS,
    PRICE_SCALE,
    RATE_SCALE,
    Config,
    PoolInfo,
    Problem,
)


class BruteForceTimeout(RuntimeError):
    pass


@dataclass
class Choice:
    config: Config
    count: int
    level: int = LEVELS
    slices: list[int] | None = None


@dataclass
class Result:
    objective: dict[str, float] | None  # None: no plan exists
    choices: list[Choice]
    states: int  # mixes examined


def solve(p: Problem, time_limit_s: float = 60.0) -> Result:
    stop = time.monotonic() + time_limit_s
    if p.mode == "buckets":
        return _buckets(p, stop)
    if p.objective == "min_latency":
        return _min_latency(p, stop)
    items = [(v.config, v.level, v.load) for v in p.all_variants]
    return _coverage(p, items, stop, maximise=p.objective == "max_throughput")


def _fits(pool: PoolInfo, groups: list[int]) -> bool:
    """The pool's nodes hold these groups (the checker's packing test)."""
    if pool.count is None:
        return True
    return sum(groups) <= pool.count and first_fit(list(pool.nodes), groups) is None


def _pool_mixes(
    p: Problem, pool: PoolInfo, items: list[tuple[int, int, int]], stop: float, cap_at: int | None
) -> Iterator[tuple[int, int, tuple[int, ...]]]:
    """(capacity, cost, counts) of every packable mix of the pool's items; with cap_at, no replica is
    added to a mix that already reaches it."""
    mine = [k for k, (c, _, _) in enumerate(items) if p.configs[c].pool == pool.index]
    counts = [0] * len(mine)

    def rec(j: int, cap: int, cost: int, groups: list[int]) -> Iterator[tuple[int, int, tuple[int, ...]]]:
        if time.monotonic() > stop:
            raise BruteForceTimeout("brute force out of time")
        if j == len(mine):
            yield cap, cost, tuple(counts)
            return
        c, _, load = items[mine[j]]
        cfg = p.configs[c]
        yield from rec(j + 1, cap, cost, groups)
        n = 0
        extra: list[int] = []
        while cap_at is None or cap + n * load < cap_at:
            n += 1
            extra = extra + list(cfg.items)
            if not _fits(pool, groups + extra):
                break
            counts[j] = n
            yield from rec(j + 1, cap + n * load, cost + n * cfg.cost_micro, groups + extra)
            if pool.count is None and cap_at is None:
                break
        counts[j] = 0

    yield from rec(0, 0, 0, [])


def _coverage(p: Problem, items: list[tuple[int, int, int]], stop: float, maximise: bool) -> Result:
    """Cheapest mix reaching the demand (min_cost) or the largest capacity, then cheapest (max_throughput)."""
    cap_at = None if maximise else p.demand_int
    # per pool: capacity (capped at the demand for min_cost) -> cheapest (cost, counts)
    frontier: dict[int, tuple[int, list[tuple[int, tuple[int, ...]]]]] = {0: (0, [])}
    states = 0
    for pool in p.pools:
        best: dict[int, tuple[int, tuple[int, ...]]] = {}
        for cap, cost, counts in _pool_mixes(p, pool, items, stop, cap_at):
            states += 1
            key = cap if cap_at is None else min(cap, cap_at)
            if key not in best or cost < best[key][0]:
                best[key] = (cost, counts)
        merged: dict[int, tuple[int, list[tuple[int, tuple[int, ...]]]]] = {}
        for cap0, (cost0, parts) in frontier.items():
            for cap1, (cost1, counts) in best.items():
                key = cap0 + cap1 if cap_at is None else min(cap0 + cap1, cap_at)
                total = cost0 + cost1
                if key not in merged or total < merged[key][0]:
                    merged[key] = (total, [*parts, (pool.index, counts)])
            if time.monotonic() > stop:
                raise BruteForceTimeout("brute force out of time")
        frontier = merged
    if maximise:
        cap = max(frontier)
        cost, parts = frontier[cap]
        obj = {"throughput_rps": cap / RATE_SCALE, "cost_per_hour": cost / PRICE_SCALE}
    else:
        if p.demand_int not in frontier:
            return Result(None, [], states)
        cost, parts = frontier[p.demand_int]
        obj = {"cost_per_hour": cost / PRICE_SCALE}
    return Result(obj, _choices(p, items, parts), states)


def _choices(
    p: Problem, items: list[tuple[int, int, int]], parts: list[tuple[int, tuple[int, ...]]]
) -> list[Choice]:
    out = []
    for pool, counts in parts:
        mine = [k for k, (c, _, _) in enumerate(items) if p.configs[c].pool == pool]
        for k, n in zip(mine, counts, strict=True):
            if n:
                out.append(Choice(p.configs[items[k][0]], n, items[k][1]))
    return out


def _min_latency(p: Problem, stop: float) -> Result:
    states = 0
    for threshold in sorted({v.latency_us for v in p.all_variants}):
        items = [(v.config, v.level, v.load) for v in p.all_variants if v.latency_us <= threshold]
        res = _coverage(p, items, stop, maximise=False)
        states += res.states
        if res.objective is not None:
            lat = max(
                v.latency_us
                for v in p.all_variants
                if any(p.configs[v.config] is ch.config and v.level == ch.level for ch in res.choices)
            )
            obj = {"latency_ms": lat / LATENCY_SCALE, "cost_per_hour": res.objective["cost_per_hour"]}
            return Result(obj, res.choices, states)
    return Result(None, [], states)


def _compositions(total: int, parts: int) -> Iterator[tuple[int, ...]]:
    """Every way to split `total` identical slices over `parts` configurations."""
    for cuts in itertools.combinations(range(total + parts - 1), parts - 1):
        prev = -1
        out = []
        for c in cuts:
            out.append(c - prev - 1)
            prev = c
        out.append(total + parts - 1 - prev - 1)
        yield tuple(out)


def _buckets(p: Problem, stop: float) -> Result:
    s = p.slice_factor
    demand = p.bucket_demand()
    servers = [[i for i, c in enumerate(p.configs) if c.cap[b] > 0] for b in range(len(p.shares))]
    if any(not srv for srv in servers):
        return Result(None, [], 0)
    best: tuple[int, list[Choice]] | None = None
    states = 0
    for split in itertools.product(*[list(_compositions(s, len(srv))) for srv in servers]):
        states += 1
        if states % 256 == 0 and time.monotonic() > stop:
            raise BruteForceTimeout("brute force out of time")
        busy: dict[int, float] = {}
        slices: dict[int, list[int]] = {}
        for b, (srv, dist) in enumerate(zip(servers, split, strict=True)):
            for i, n in zip(srv, dist, strict=True):
                if n:
                    cap = p.configs[i].cap[b] / RATE_SCALE
                    busy[i] = busy.get(i, 0.0) + n * demand[b] / s / cap
                    slices.setdefault(i, [0] * len(p.shares))[b] += n
        counts = {i: max(1, math.ceil(x - 1e-9)) for i, x in busy.items()}
        ok = True
        for pool in p.pools:
            groups = [
                sz
                for i, n in counts.items()
                if p.configs[i].pool == pool.index
                for sz in p.configs[i].items * n
            ]
            if not _fits(pool, groups):
                ok = False
                break
        if not ok:
            continue
        cost = sum(n * p.configs[i].cost_micro for i, n in counts.items())
        if best is None or cost < best[0]:
            best = (cost, [Choice(p.configs[i], n, LEVELS, slices[i]) for i, n in sorted(counts.items())])
    if best is None:
        return Result(None, [], states)
    return Result({"cost_per_hour": best[0] / PRICE_SCALE}, best[1], states)
