"""Between solutions (replica groups of configurations) and plans (the public ParallelismPlan): loads,
predicted latencies at those loads, totals, SLO headroom, and the objective's names and senses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from models.parallelism import ModelSummary, ParallelismPlan, PlanTotals, ReplicaGroup, SloReport
from solver.engine.objective import Senses
from solver.parallelism import costmodel as cm
from solver.parallelism.problem import (
    LATENCY_SCALE,
    LEVELS,
    LOAD_SCALE,
    PRICE_SCALE,
    RATE_SCALE,
    Config,
    Problem,
    hardware,
    hardware_for,
    layout,
    new_config,
)

COST = "cost_per_hour"
THROUGHPUT = "throughput_rps"
LATENCY = "latency_ms"


def senses(p: Problem) -> Senses:
    if p.objective == "max_throughput":
        return {THROUGHPUT: "max", COST: "min"}
    if p.objective == "min_latency":
        return {LATENCY: "min", COST: "min"}
    return {COST: "min"}


@dataclass
class Group:
    config: Config
    count: int
    level: int = LEVELS
    slices: list[int] | None = None  # per bucket (buckets mode)
    latency_us: int | None = None  # min_latency: the variant's latency at its level


def slice_load(p: Problem, c: Config, bucket: int) -> int:
    """One slice of `bucket` on one replica of c, 1e-6 replica (-1: c cannot serve the bucket)."""
    if c.cap[bucket] <= 0:
        return -1
    x = p.bucket_demand()[bucket] / p.slice_factor / (c.cap[bucket] / RATE_SCALE) * LOAD_SCALE
    return int(math.ceil(round(x, 6)))


def config_at(p: Problem, pool: int, tp: int, pp: int, ep: int, max_batch: int) -> Config | None:
    """A configuration of the cost model at a given batch cap (the baselines' vLLM default), or None
    when it does not fit memory."""
    assert p.arch is not None and p.lengths is not None
    info = p.pools[pool]
    arch = p.arch
    kv = cm.kv_tokens(arch, info.gpu.memory_gib, info.cal.memory_utilization, info.cal.workspace_gib, tp, pp)
    free = cm.free_kv_bytes(
        arch, info.gpu.memory_gib, info.cal.memory_utilization, info.cal.workspace_gib, tp, pp
    )
    if float(free) <= 0 or int(kv) < min(ln.reserved for ln in p.lengths):
        return None
    _, tin, pin = layout(tp, pp, info.gpn)
    nb = len(p.lengths)
    hw = hardware_for(p.pools, [(pool, tp, pp, ep, tin, pin)] * nb)
    curve = cm.curve(arch, hw, cm.Lengths.stack(p.lengths), np.full(nb, float(kv)))
    res = cm.capacity(curve, p.slo, max_batch=np.full(nb, max_batch))
    return new_config(
        info,
        tp,
        pp,
        ep,
        [int(x) for x in np.floor(res.rate * RATE_SCALE + 1e-6)],
        p.shares,
        max_batch=max_batch,
        weights_gib=float(cm.weight_bytes_per_gpu(arch, tp, pp) / cm.GIB),
        kv_tokens=int(kv),
        binding=list(res.binding),
    )


def _predict(p: Problem, c: Config, rates: dict[int, float]) -> tuple[float, float, float] | None:
    """(ttft, tpot, latency) in ms: the worst over the buckets, each at its rate (req/s per replica)."""
    if c.measured or p.arch is None or p.lengths is None or not rates:
        return None
    buckets = list(rates)
    hw = hardware(p, [c]).subset([0] * len(buckets))
    kv = np.full(len(buckets), float(c.kv_tokens or 0))
    curve = cm.curve(p.arch, hw, cm.Lengths.stack([p.lengths[b] for b in buckets]), kv)
    point = cm.at_rate(curve, np.array([rates[b] for b in buckets]))
    return (
        float(np.max(point["ttft"])) * 1e3,
        float(np.max(point["tpot"])) * 1e3,
        float(np.max(point["latency"])) * 1e3,
    )


def level_latency_us(p: Problem, c: Config, level: int) -> int | None:
    """min_latency: the predicted latency of c at a load level, as the model's variants have it."""
    for v in p.all_variants:
        if p.configs[v.config] is c and v.level == level:
            return v.latency_us
    pred = _predict(p, c, {0: (c.mix * level // LEVELS) / RATE_SCALE})
    return None if pred is None else int(round(pred[2] * LATENCY_SCALE))


def to_plan(p: Problem, groups: list[Group]) -> ParallelismPlan:
    groups = [g for g in groups if g.count > 0]
    total_cap = sum(g.count * _sized(p, g) for g in groups)
    out: list[ReplicaGroup] = []
    n_buckets = len(p.shares)
    for g in groups:
        c = g.config
        pool = p.pools[c.pool]
        cap_rps = c.mix / RATE_SCALE
        if p.mode == "buckets":
            assert g.slices is not None
            dem = p.bucket_demand()
            load = sum(s * dem[b] / p.slice_factor for b, s in enumerate(g.slices)) / g.count
            util = (
                sum(
                    s * dem[b] / p.slice_factor / (c.cap[b] / RATE_SCALE) for b, s in enumerate(g.slices) if s
                )
                / g.count
            )
            served = [b for b, s in enumerate(g.slices) if s]
            load_int = None
            rates = {b: util * c.cap[b] / RATE_SCALE for b in served}
        else:
            if p.objective == "min_latency":
                load_int = c.mix * g.level // LEVELS
            elif p.objective == "max_throughput" or total_cap <= p.demand_int:
                load_int = c.mix
            else:  # the demand split in proportion to capacity, rounded up to the rate quantum
                load_int = min(c.mix, -(-c.mix * p.demand_int // total_cap))
            load = load_int / RATE_SCALE
            util = load_int / c.mix if c.mix else 0.0
            if n_buckets == 1:
                rates = {0: load}
            else:  # the mixed workload: every bucket at the same share of its capacity
                rates = {b: util * c.cap[b] / RATE_SCALE for b in range(n_buckets)}
        pred = _predict(p, c, rates)
        latency = pred[2] if pred else None
        if p.objective == "min_latency":
            lat_us = g.latency_us if g.latency_us is not None else level_latency_us(p, c, g.level)
            latency = None if lat_us is None else lat_us / LATENCY_SCALE
        out.append(
            ReplicaGroup(
                pool=pool.name,
                gpu=pool.gpu.name,
                count=g.count,
                tp=c.tp,
                pp=c.pp,
                ep=c.ep,
                max_batch=c.max_batch,
                gpus_per_replica=c.gpus,
                ttft_ms=_r(pred[0]) if pred else None,
                tpot_ms=_r(pred[1]) if pred else None,
                latency_ms=(latency if p.objective == "min_latency" else _r(latency))
                if latency is not None
                else None,
                capacity_rps=cap_rps,
                load_rps=round(load, 6) if load_int is None else load,
                bucket_capacity_rps=[x / RATE_SCALE for x in c.cap]
                if n_buckets > 1 or p.mode == "buckets"
                else None,
                bucket_slices=list(g.slices) if g.slices is not None else None,
                limited_by=list(c.binding) or None,
                weights_gib_per_gpu=round(c.weights_gib, 4) if c.weights_gib is not None else None,
                kv_tokens=c.kv_tokens,
                cost_per_hour=c.cost_micro / PRICE_SCALE,
                total_cost_per_hour=g.count * c.cost_micro / PRICE_SCALE,
                measured=c.measured,
            )
        )
    cost = sum(g.count * g.config.cost_micro for g in groups)
    capacity = sum(g.count * g.config.mix for g in groups) / RATE_SCALE
    slo = SloReport(ttft_ms=p.inst.workload.ttft_ms, tpot_ms=p.inst.workload.tpot_ms)
    ttfts = [r.ttft_ms for r in out if r.ttft_ms is not None]
    tpots = [r.tpot_ms for r in out if r.tpot_ms is not None]
    if ttfts:
        slo.worst_ttft_ms = max(ttfts)
        slo.ttft_headroom_ms = _r(slo.ttft_ms - slo.worst_ttft_ms) if slo.ttft_ms is not None else None
    if tpots:
        slo.worst_tpot_ms = max(tpots)
        slo.tpot_headroom_ms = _r(slo.tpot_ms - slo.worst_tpot_ms) if slo.tpot_ms is not None else None
    if p.rate > 0 and capacity > 0:
        slo.capacity_headroom = round(capacity / p.rate - 1.0, 6)
    return ParallelismPlan(
        replicas=out,
        totals=PlanTotals(
            replicas=sum(g.count for g in groups),
            gpus=sum(g.count * g.config.gpus for g in groups),
            cost_per_hour=cost / PRICE_SCALE,
            capacity_rps=capacity,
            demand_rps=round(p.demand, 6),
            utilization=round(p.rate / capacity, 6) if capacity > 0 else 0.0,
        ),
        slo=slo,
        model=summary(p),
        notes=list(p.notes),
    )


def _sized(p: Problem, g: Group) -> int:
    if p.objective == "min_latency":
        return g.config.mix * g.level // LEVELS
    return g.config.mix


def _r(x: float) -> float:
    return round(x, 3)


def summary(p: Problem) -> ModelSummary | None:
    a = p.arch
    if a is None:
        return None
    return ModelSummary(
        name=a.name,
        parameters_b=round(a.parameters / 1e9, 3),
        weights_gib=round(a.weights_bytes / cm.GIB, 3),
        kv_kib_per_token=round(a.kv_bytes_per_token / 1024, 3),
    )


def from_plan(p: Problem, plan: ParallelismPlan) -> list[Group]:
    """The groups of a plan, each on one of the problem's configurations (or, for a modeled group at a
    batch cap of its own, that configuration at its cap)."""
    by_key = {p.key(c): c for c in p.configs}
    by_layout = {p.key(c)[:4]: c for c in p.configs}
    pools = {pool.name: pool.index for pool in p.pools}
    out = []
    for r in plan.replicas:
        key = (r.pool, r.tp, r.pp, r.ep, r.max_batch)
        c = by_key.get(key)
        if c is None and not r.measured and r.max_batch is not None:
            c = config_at(p, pools[r.pool], r.tp, r.pp, r.ep, r.max_batch)
        if c is None:
            c = by_layout.get(key[:4])
        if c is None:
            continue
        level = LEVELS
        if p.objective == "min_latency" and c.mix:
            level = max(1, min(LEVELS, round(r.load_rps * RATE_SCALE * LEVELS / c.mix)))
        lat = (
            int(round(r.latency_ms * LATENCY_SCALE))
            if (p.objective == "min_latency" and r.latency_ms)
            else None
        )
        out.append(Group(c, r.count, level, list(r.bucket_slices) if r.bucket_slices else None, lat))
    return out
