"""The replica-mix model, written once for CP-SAT and PuLP (solver.engine.modeling).

  n_v in [0, ub_v]        replicas of variant v (a configuration, at a load level for min_latency)
  packing, per limited pool and item size s (powers of two, so they divide each other):
      sum_v n_v * (GPUs of v's items of size >= s) <= sum_nodes floor(node_gpus / s) * s
  coverage:  sum_v load_v * n_v >= rate x (1 + headroom)                (min_cost, min_latency)
  buckets:   y_bv in [0, slices] slices of bucket b on v, sum_v y_bv = slices,
             sum_b load_bv * y_bv <= 10^6 * n_v                         (min_cost with a histogram)
  min_latency: u_v in {0, 1}, n_v <= ub_v * u_v, latency >= latency_v * u_v
Objective tiers: cost; throughput then cost; latency then cost. Integer units: see problem.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from solver.engine.lexicographic import Tier
from solver.engine.modeling import ModelBuilder
from solver.parallelism.bound import latency_floor_us
from solver.parallelism.plans import COST, LATENCY, THROUGHPUT, Group
from solver.parallelism.problem import LATENCY_SCALE, LOAD_SCALE, PRICE_SCALE, RATE_SCALE, Problem

# integer tier units -> the objective's units
UNITS = {COST: PRICE_SCALE, THROUGHPUT: RATE_SCALE, LATENCY: LATENCY_SCALE}


@dataclass
class Model:
    n: list[Any]
    y: dict[tuple[int, int], Any] = field(default_factory=dict)  # (bucket, variant) -> slices
    u: dict[int, Any] = field(default_factory=dict)
    latency: Any = None
    tiers: list[Tier] = field(default_factory=list)
    ubs: list[int] = field(default_factory=list)


def build(p: Problem, mb: ModelBuilder, latency_cap_us: int | None = None) -> Model:
    """latency_cap_us (min_latency): a known plan's latency; variants above it cannot be in an optimum
    (its latency would be worse) and get no replicas."""
    vs = p.variants
    ubs = list(p.ub)
    if latency_cap_us is not None:
        ubs = [0 if v.latency_us > latency_cap_us else ub for v, ub in zip(vs, ubs, strict=True)]
    n = [mb.int_var(0, ubs[k], f"n_{k}") for k in range(len(vs))]
    m = Model(n, ubs=ubs)
    # packing per limited pool
    for pool in p.pools:
        if not pool.limited:
            continue
        members = [k for k, v in enumerate(vs) if p.configs[v.config].pool == pool.index]
        if not members:
            continue
        for s in p.sizes(pool.index):
            coefs = [p.configs[vs[k].config].contribution(s) for k in members]
            terms = [(n[k], c) for k, c in zip(members, coefs, strict=True) if c > 0]
            bound = sum(ubs[k] * c for k, c in zip(members, coefs, strict=True))
            if terms and bound > pool.room(s):
                mb.add_le(mb.linear([t[0] for t in terms], [t[1] for t in terms]), pool.room(s))
    if p.objective in ("min_cost", "min_latency") and p.mode == "coverage":
        mb.add_le(mb.linear(n, [-v.load for v in vs]), -p.demand_int)
    if p.mode == "buckets":
        for b in range(len(p.shares)):
            row = []
            for k, v in enumerate(vs):
                load = p.slice_load[b][v.config]
                if load > 0:
                    m.y[b, k] = mb.int_var(0, p.slice_factor, f"y_{b}_{k}")
                    row.append(m.y[b, k])
            mb.add_eq(mb.linear(row, [1] * len(row)), p.slice_factor)
        for k, v in enumerate(vs):
            keys = [(b, k) for b in range(len(p.shares)) if (b, k) in m.y]
            mb.add_le(
                mb.linear(
                    [m.y[key] for key in keys] + [n[k]],
                    [p.slice_load[b][v.config] for b, _ in keys] + [-LOAD_SCALE],
                ),
                0,
            )
    cost_ub = sum(ub * p.configs[v.config].cost_micro for v, ub in zip(vs, ubs, strict=True))
    cost = Tier(COST, mb.linear(n, [p.configs[v.config].cost_micro for v in vs]), "min", 0, cost_ub)
    if p.objective == "max_throughput":
        thr_ub = sum(ub * v.load for v, ub in zip(vs, ubs, strict=True))
        m.tiers = [Tier(THROUGHPUT, mb.linear(n, [v.load for v in vs]), "max", 0, thr_ub), cost]
    elif p.objective == "min_latency":
        lats = [v.latency_us for v, ub in zip(vs, ubs, strict=True) if ub > 0] or [v.latency_us for v in vs]
        lo, hi = min(lats), max(lats)
        lo = max(lo, min(hi, latency_floor_us(p)))  # no threshold below carries the demand
        m.latency = mb.int_var(lo, hi, "latency")
        for k, v in enumerate(vs):
            m.u[k] = mb.int_var(0, 1, f"u_{k}")
            mb.add_le(mb.linear([n[k], m.u[k]], [1, -ubs[k]]), 0)
            if ubs[k] == 0:
                continue
            if v.latency_us > lo:
                mb.add_le(mb.linear([m.u[k], m.latency], [v.latency_us, -1]), 0)
        m.tiers = [Tier(LATENCY, mb.linear([m.latency], [1]), "min", lo, hi), cost]
    else:
        m.tiers = [cost]
    return m


def hint(p: Problem, m: Model, groups: list[Group]) -> dict[Any, int] | None:
    """Values of every variable for a plan whose groups are all variants of the model (else None)."""
    # by layout: a baseline's configuration at another batch cap maps to the model's (whose cap does not
    # limit its capacity, so the counts still cover what they covered)
    index = {(*p.key(p.configs[v.config])[:4], v.level): k for k, v in enumerate(p.variants)}
    counts = [0] * len(p.variants)
    slices: dict[tuple[int, int], int] = {}
    for g in groups:
        k = index.get((*p.key(g.config)[:4], g.level))
        if k is None:
            return None
        counts[k] += g.count
        for b, s in enumerate(g.slices or []):
            if s:
                if (b, k) not in m.y:
                    return None
                slices[b, k] = slices.get((b, k), 0) + s
    if any(c > ub for c, ub in zip(counts, m.ubs, strict=True)):
        return None
    values: dict[Any, int] = {var: counts[k] for k, var in enumerate(m.n)}
    for key, var in m.y.items():
        values[var] = slices.get(key, 0)
    for k, var in m.u.items():
        values[var] = int(counts[k] > 0)
    if m.latency is not None:
        used = [p.variants[k].latency_us for k in range(len(counts)) if counts[k]]
        if not used:
            return None
        values[m.latency] = max(used)
    return values


def decode(p: Problem, m: Model, value: Any) -> list[Group]:
    groups = []
    for k, var in enumerate(m.n):
        count = int(round(value(var)))
        if count <= 0:
            continue
        v = p.variants[k]
        slices = None
        if p.mode == "buckets":
            slices = [int(round(value(m.y[b, k]))) if (b, k) in m.y else 0 for b in range(len(p.shares))]
            if not any(slices):
                continue  # replicas carrying nothing: never in an optimum, dropped
        lat = v.latency_us if p.objective == "min_latency" else None
        groups.append(Group(p.configs[v.config], count, v.level, slices, lat))
    return groups
