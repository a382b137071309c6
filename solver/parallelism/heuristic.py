"""The baselines users run today.

vllm-rule: what the vLLM docs recommend, per GPU pool: the smallest TP that fits the model on one node;
when even a whole node does not, TP = GPUs per node and PP = the fewest nodes that fit; vLLM's default
batch cap (max_num_seqs 256). Pools are taken cheapest GPU first, and the configuration is replicated
until the demand is met (max_throughput: until the pool is full). With measured candidates, the
pool's smallest candidate stands in for the rule.

best-single-config: the best homogeneous plan, one configuration for the whole fleet (what Vidur-Search
returns, and the single-GPU-type plans Mélange compares against).
"""

from __future__ import annotations

import math

from solver.engine.budget import Deadline
from solver.parallelism import costmodel as cm
from solver.parallelism.plans import Group, config_at, level_latency_us, slice_load
from solver.parallelism.problem import (
    LEVELS,
    LOAD_SCALE,
    VLLM_MAX_NUM_SEQS,
    Config,
    PoolInfo,
    Problem,
    tp_options,
)

VLLM = "vllm-rule"
SINGLE = "best-single-config"


def vllm_config(p: Problem, pool: PoolInfo) -> Config | None:
    if p.measured:
        mine = [c for c in p.configs if c.pool == pool.index]
        return min(mine, key=lambda c: (c.gpus, c.tp, c.pp, c.ep), default=None)
    assert p.arch is not None
    tps = tp_options(p.arch, pool, across=False)
    for tp in tps:
        c = config_at(p, pool.index, tp, 1, 1, VLLM_MAX_NUM_SEQS)
        if c is not None:
            return c if any(c.cap) else None
    if not tps:
        return None
    tp = tps[-1]
    nodes = max(1, (pool.count or 0) // pool.gpn) if pool.limited else 1 << 20
    for pp in cm.divisors(p.arch.n_layers):
        if pp < 2 or pp > nodes or (pool.count is not None and tp * pp > pool.count):
            continue
        c = config_at(p, pool.index, tp, pp, 1, VLLM_MAX_NUM_SEQS)
        if c is not None:
            return c if any(c.cap) else None
    return None


def max_replicas(p: Problem, c: Config) -> int | None:
    pool = p.pools[c.pool]
    if not pool.limited:
        return None
    return min(pool.room(s) // c.contribution(s) for s in set(c.items))


def _order(p: Problem) -> list[PoolInfo]:
    return sorted(p.pools, key=lambda q: (q.price_micro, q.index))


def vllm_rule(p: Problem, deadline: Deadline) -> list[Group]:
    picks = [(pool, vllm_config(p, pool)) for pool in _order(p)]
    configs = [c for _, c in picks if c is not None and (c.mix > 0 or p.mode == "buckets")]
    if p.objective == "max_throughput":
        return [Group(c, max_replicas(p, c) or 0) for c in configs]
    if p.mode == "buckets":
        return _fill_buckets(p, configs)
    groups: list[Group] = []
    remaining = p.demand_int
    for c in configs:
        if remaining <= 0:
            break
        room = max_replicas(p, c)
        n = cm.ceil_div(remaining, c.mix)
        if room is not None:
            n = min(n, room)
        if n > 0:
            groups.append(Group(c, n))
            remaining -= n * c.mix
    if p.objective == "min_latency":
        _set_level(p, groups)
    return groups


def _set_level(p: Problem, groups: list[Group]) -> None:
    """The lowest common load level at which the replicas still carry the demand."""
    for level in range(1, LEVELS + 1):
        if sum(g.count * (g.config.mix * level // LEVELS) for g in groups) >= p.demand_int:
            break
    for g in groups:
        g.level = level
        g.latency_us = level_latency_us(p, g.config, level)


def _fill_buckets(p: Problem, configs: list[Config]) -> list[Group]:
    """Slices to configurations in order: all of a pool's servable slices when its inventory allows,
    otherwise the largest slices that fit its replicas, the rest to the next pool."""
    left = {b: p.slice_factor for b in range(len(p.shares))}
    groups = []
    for c in configs:
        loads = {b: slice_load(p, c, b) for b in left if left[b] > 0}
        loads = {b: x for b, x in loads.items() if x > 0}
        if not loads:
            continue
        need = cm.ceil_div(sum(x * left[b] for b, x in loads.items()), LOAD_SCALE)
        room = max_replicas(p, c)
        n = need if room is None else min(need, room)
        if n <= 0:
            continue
        slices = [0] * len(p.shares)
        budget = n * LOAD_SCALE
        for b, x in sorted(loads.items(), key=lambda kv: (-kv[1], kv[0])):
            take = min(left[b], budget // x)
            slices[b] += take
            left[b] -= take
            budget -= take * x
        if any(slices):
            used = sum(slices[b] * loads[b] for b in loads)
            groups.append(Group(c, cm.ceil_div(used, LOAD_SCALE), slices=slices))
        if not any(left.values()):
            break
    return groups


def best_single(p: Problem, deadline: Deadline) -> list[Group] | None:
    best: tuple[tuple[float, ...], list[Group]] | None = None
    for c in p.configs:
        if deadline.expired():
            break
        room = max_replicas(p, c)
        for plan in _single_plans(p, c, room):
            key = _key(p, plan)
            if best is None or key < best[0]:
                best = (key, plan)
    return best[1] if best else None


def _single_plans(p: Problem, c: Config, room: int | None) -> list[list[Group]]:
    if p.objective == "max_throughput":
        return [[Group(c, room)]] if room and c.mix else []
    if p.mode == "buckets":
        loads = [slice_load(p, c, b) for b in range(len(p.shares))]
        if any(x < 0 for x in loads):
            return []
        n = cm.ceil_div(sum(loads) * p.slice_factor, LOAD_SCALE)
        return [[Group(c, n, slices=[p.slice_factor] * len(p.shares))]] if room is None or n <= room else []
    out = []
    for level in range(1, LEVELS + 1) if p.objective == "min_latency" else [LEVELS]:
        load = c.mix * level // LEVELS
        if load <= 0:
            continue
        n = cm.ceil_div(p.demand_int, load)
        if room is not None and n > room:
            continue
        g = Group(c, n, level)
        if p.objective == "min_latency":
            g.latency_us = level_latency_us(p, c, level)
        out.append([g])
    return out


def _key(p: Problem, groups: list[Group]) -> tuple[float, ...]:
    cost = float(sum(g.count * g.config.cost_micro for g in groups))
    if p.objective == "max_throughput":
        return (-float(sum(g.count * g.config.mix for g in groups)), cost)
    if p.objective == "min_latency":
        return (float(max(g.latency_us or math.inf for g in groups)), cost)
    return (cost,)
