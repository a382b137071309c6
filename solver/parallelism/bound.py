"""Cheap valid bounds, in the objective's units.

min_cost (coverage): the LP relaxation with each pool's GPUs as its only limit. Within a pool every GPU
costs the same, so the pool's best configuration is the one with most req/s per GPU, and filling pools
in order of price per req/s solves the relaxation exactly. With a histogram: every slice at the lowest
cost per unit of its load. max_throughput: every pool's GPUs at the best req/s per GPU. min_latency: the
lowest latency threshold at which the variants within it can carry the demand in that same relaxation
(each pool's GPUs at the best req/s per GPU among them). Their second tier, the cost, is bounded by 0: a
cost is never negative.
"""

from __future__ import annotations

import math
from fractions import Fraction

from solver.engine.objective import Bound
from solver.parallelism.plans import COST, LATENCY, THROUGHPUT
from solver.parallelism.problem import LATENCY_SCALE, LOAD_SCALE, PRICE_SCALE, RATE_SCALE, Problem


def cheap_bound(p: Problem) -> Bound | None:
    if not p.variants:
        return None
    if p.objective == "min_latency":
        return {LATENCY: latency_floor_us(p) / LATENCY_SCALE, COST: 0.0}
    if p.objective == "max_throughput":
        total = Fraction(0)
        for pool in p.pools:
            mine = [v for v in p.variants if p.configs[v.config].pool == pool.index]
            if mine:
                best = max(Fraction(v.load, p.configs[v.config].gpus) for v in mine)
                total += best * (pool.count or 0)
        return {THROUGHPUT: math.ceil(total) / RATE_SCALE, COST: 0.0}
    if p.mode == "buckets":
        cost = Fraction(0)
        for b in range(len(p.shares)):
            per = [
                Fraction(p.configs[v.config].cost_micro * p.slice_load[b][v.config], LOAD_SCALE)
                for v in p.variants
                if p.slice_load[b][v.config] > 0
            ]
            if not per:
                return None
            cost += p.slice_factor * min(per)
        return {COST: math.floor(cost) / PRICE_SCALE}
    return {COST: _lp_cost(p)}


def _lp_cost(p: Problem) -> float | None:
    offers = []  # (cost per unit of load, units available or None)
    for pool in p.pools:
        mine = [v for v in p.variants if p.configs[v.config].pool == pool.index]
        if not mine:
            continue
        per_gpu = max(Fraction(v.load, p.configs[v.config].gpus) for v in mine)
        price = Fraction(pool.price_micro) / per_gpu
        offers.append((price, None if pool.count is None else per_gpu * pool.count))
    need = Fraction(p.demand_int)
    cost = Fraction(0)
    for price, units in sorted(offers, key=lambda o: o[0]):
        take = need if units is None else min(need, units)
        cost += take * price
        need -= take
        if need <= 0:
            return math.floor(cost) / PRICE_SCALE
    return None


def latency_floor_us(p: Problem) -> int:
    """The smallest latency threshold whose variants carry the demand in the GPU-count relaxation."""
    lats = sorted({v.latency_us for v in p.variants})
    best: dict[int, Fraction] = {}  # pool -> best req/s per GPU among the variants within the threshold
    unlimited = {pool.index for pool in p.pools if not pool.limited}
    order = sorted(p.variants, key=lambda v: v.latency_us)
    k = 0
    for t in lats:
        while k < len(order) and order[k].latency_us <= t:
            v = order[k]
            c = p.configs[v.config]
            if c.pool in unlimited:
                return t
            rate = Fraction(v.load, c.gpus)
            best[c.pool] = max(best.get(c.pool, Fraction(0)), rate)
            k += 1
        if sum(r * (p.pools[i].count or 0) for i, r in best.items()) >= p.demand_int:
            return t
    return lats[-1] if lats else 0
