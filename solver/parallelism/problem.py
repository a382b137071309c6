"""What every stage reads: the resolved model and pools, the candidate replica configurations with their
capacities at the SLOs, and the integer data of the optimisation model.

Candidate configurations (cost model): GPU pool x TP (a power of two dividing the heads, with the KV
heads dividing it or it dividing them; within one node unless `tp_across_nodes`) x PP (dividing the
layers, up to the pool's GPUs and `max_pp`) x EP (1, or TP for MoE models whose experts it divides).
Each is kept when its weights, workspace and one request's KV cache fit memory and it meets the SLOs
at some rate; its batch cap is the smallest power of two that does not limit its capacity. Measured
candidates are taken as given.

Node packing: a replica is one item of TP x PP GPUs when that is a power of two within a node (its
pipeline runs over the intra-node link), else PP items of TP GPUs (TP over whole nodes: items of one
node). Every item size is a power of two, so item sizes divide each other and a set of replicas packs
into a pool's nodes exactly when, for every size s, the items of size >= s take no more than the
aligned room sum_nodes floor(node_gpus / s) * s. The checker verifies plans by an actual packing.

Units of the integer model: rates in 1e-4 req/s, prices in 1e-6 per GPU-hour (prices are read to 1e-6),
bucket-slice loads in 1e-6 of a replica, latencies in microseconds.

Modes: `coverage` (sum of replica capacities >= rate x (1 + headroom), the load split in proportion),
or `buckets` for min_cost with a histogram (Mélange: each bucket is cut into slice_factor slices, each
slice goes whole to one configuration, and a configuration's replicas carry its slices' loads).
max_throughput with a histogram uses each configuration's mixed-workload capacity (1 / sum share/cap);
min_latency with a histogram uses its mean request (lengths averaged by share, p90 from the histogram).
min_latency sizes replicas at load levels of 1/8 .. 8/8 of their capacity and minimises the worst
group's predicted request latency there, then the cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from models.parallelism import LATENCY_SCALE, PRICE_SCALE, RATE_SCALE, ModelSpec, ParallelismInstance
from models.parallelism import LOAD_LEVELS as LEVELS
from solver.parallelism import costmodel as cm
from solver.parallelism.costmodel import Arch, Calibration, Gpu, Lengths, Slo
from solver.parallelism.presets import gpu_preset, model_preset

LOAD_SCALE = 1_000_000
MAX_PP_DEFAULT = 32
VLLM_MAX_NUM_SEQS = 256


@dataclass
class PoolInfo:
    index: int
    name: str
    gpu: Gpu
    cal: Calibration
    count: int | None
    price_micro: int
    nodes: list[int]  # GPUs per node; [] when unlimited

    @property
    def gpn(self) -> int:
        return self.gpu.gpus_per_node

    @property
    def limited(self) -> bool:
        return self.count is not None

    def room(self, size: int) -> int:
        """GPUs usable by items of `size` (aligned blocks in every node)."""
        return sum(n // size * size for n in self.nodes)


@dataclass
class Config:
    pool: int
    tp: int
    pp: int
    ep: int
    items: tuple[int, ...]
    tp_in_node: bool
    pp_in_node: bool
    measured: bool
    max_batch: int | None
    cap: list[int]  # per bucket, 1e-4 req/s (0: cannot serve that bucket)
    mix: int  # mixed-workload capacity, 1e-4 req/s
    cost_micro: int  # one replica per hour
    weights_gib: float | None = None
    kv_tokens: int | None = None
    binding: list[str] = field(default_factory=list)

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def contribution(self, size: int) -> int:
        return sum(s for s in self.items if s >= size)


@dataclass
class Variant:
    """What the integer model counts: replicas of a configuration sized for a load level."""

    config: int
    level: int  # 1..LEVELS (min_latency), LEVELS otherwise
    load: int  # per replica, 1e-4 req/s (coverage mode)
    latency_us: int = 0


@dataclass
class Rejection:
    pool: int
    tp: int
    pp: int
    reason: str  # memory | kv | slo
    data: dict[str, float]


@dataclass
class Problem:
    inst: ParallelismInstance
    arch: Arch | None
    pools: list[PoolInfo]
    lengths: list[Lengths] | None  # per bucket of the capacity model (None: measured, no lengths)
    shares: list[float]
    slo: Slo
    objective: str
    mode: str  # coverage | buckets
    rate: float
    demand: float  # rate x (1 + headroom)
    demand_int: int
    slice_factor: int
    slice_load: list[list[int]]  # [bucket][config]: one slice's load, 1e-6 replica (buckets mode)
    configs: list[Config]
    all_variants: list[Variant]  # every variant (the brute force's search space)
    variants: list[Variant]  # the model's: dominated ones removed, upper bounds > 0
    ub: list[int]  # per model variant
    rejected: list[Rejection]
    notes: list[str]

    @property
    def measured(self) -> bool:
        return self.inst.candidates is not None

    def key(self, c: Config) -> tuple[str, int, int, int, int | None]:
        return (self.pools[c.pool].name, c.tp, c.pp, c.ep, c.max_batch)

    def bucket_demand(self) -> list[float]:
        return [self.demand * s for s in self.shares]

    def sizes(self, pool: int) -> list[int]:
        return sorted({s for c in self.configs if c.pool == pool for s in c.items})


# resolving the instance -------------------------------------------------------------------------


def resolve_arch(m: str | ModelSpec | None) -> Arch | None:
    if m is None:
        return None
    if isinstance(m, str):
        arch = model_preset(m)
        assert arch is not None  # validated
        return arch
    base = model_preset(m.preset) if m.preset else None
    given = {k: v for k, v in m.model_dump().items() if v is not None and k != "preset"}
    if base is not None:
        values = {**base.__dict__, **given}
        if m.head_dim is None and ("hidden" in given or "heads" in given):
            values["head_dim"] = values["hidden"] // values["heads"]
    else:
        values = {
            "name": "custom model",
            "experts": 1,
            "top_k": 1,
            "weight_bytes": 2.0,
            "kv_bytes": 2.0,
            "qkv_bias": False,
            "tied_embeddings": False,
            **given,
        }
        values.setdefault("head_dim", values["hidden"] // values["heads"])
    return Arch(**values)


def resolve_pools(inst: ParallelismInstance) -> list[PoolInfo]:
    out = []
    for i, p in enumerate(inst.inventory):
        preset = gpu_preset(p.gpu)
        spec = {
            "name": preset.name if preset else p.gpu,
            "memory_gib": p.memory_gib,
            "hbm_gb_per_s": p.hbm_gb_per_s,
            "dense_tflops": p.dense_tflops,
            "intra_node_gb_per_s": p.intra_node_gb_per_s,
            "inter_node_gb_per_s": p.inter_node_gb_per_s,
            "gpus_per_node": p.gpus_per_node,
        }
        base = preset.__dict__ if preset else {"gpus_per_node": 8, "approximate": ""}
        gpu = Gpu(**{**base, **{k: v for k, v in spec.items() if v is not None}})
        if spec["dense_tflops"] is not None:  # the user's own figure replaces the estimate
            gpu = Gpu(**{**gpu.__dict__, "approximate": ""})
        cal = cm.calibration_for(gpu.name).merged(inst.calibration).merged(p.calibration)
        nodes: list[int] = []
        if p.count is not None:
            nodes = [gpu.gpus_per_node] * (p.count // gpu.gpus_per_node)
            if p.count % gpu.gpus_per_node:
                nodes.append(p.count % gpu.gpus_per_node)
        out.append(PoolInfo(i, p.name or p.gpu, gpu, cal, p.count, price_micro(p.cost_per_hour), nodes))
    return out


def price_micro(price: float) -> int:
    return int(round(price * PRICE_SCALE))


def workload_lengths(inst: ParallelismInstance) -> tuple[list[Lengths] | None, list[float]]:
    """The buckets the capacities are computed for, and their shares."""
    w = inst.workload
    if w.buckets is None:
        if w.prompt_tokens is None or w.output_tokens is None:
            return None, [1.0]
        p90p = w.prompt_tokens_p90 or w.prompt_tokens
        p90o = w.output_tokens_p90 or w.output_tokens
        return [Lengths(w.prompt_tokens, w.output_tokens, p90p, p90o)], [1.0]
    total = sum(b.share for b in w.buckets)
    shares = [b.share / total for b in w.buckets]
    if inst.objective == "min_latency":  # one mean request: lengths averaged, p90 from the histogram
        prompt = sum(s * b.prompt_tokens for s, b in zip(shares, w.buckets, strict=True))
        output = sum(s * b.output_tokens for s, b in zip(shares, w.buckets, strict=True))
        return [
            Lengths(
                prompt,
                output,
                _quantile([b.prompt_tokens for b in w.buckets], shares, 0.9),
                _quantile([b.output_tokens for b in w.buckets], shares, 0.9),
            )
        ], [1.0]
    return [
        Lengths(b.prompt_tokens, b.output_tokens, b.prompt_tokens, b.output_tokens) for b in w.buckets
    ], shares


def _quantile(values: list[int], weights: list[float], q: float) -> float:
    acc = 0.0
    for v, wt in sorted(zip(values, weights, strict=True)):
        acc += wt
        if acc >= q - 1e-12:
            return float(v)
    return float(max(values))


# configurations -----------------------------------------------------------------------------------


def layout(tp: int, pp: int, gpn: int) -> tuple[tuple[int, ...], bool, bool]:
    """Packing items of one replica, and whether TP and the pipeline stay within a node."""
    if tp > gpn:
        return (gpn,) * (pp * (tp // gpn)), False, False
    size = tp * pp
    if pp > 1 and size <= gpn and cm.is_power_of_two(size):
        return (size,), True, True
    return (tp,) * pp, True, pp == 1


def tp_options(arch: Arch, pool: PoolInfo, across: bool) -> list[int]:
    top = pool.gpn if not across else max(pool.gpn, pool.count or pool.gpn * 8)
    out = []
    t = 1
    while t <= min(top, arch.heads):
        ok = arch.heads % t == 0 and (arch.kv_heads % t == 0 or t % arch.kv_heads == 0)
        ok = ok and arch.ffn % t == 0
        if t > pool.gpn:
            ok = ok and across and t % pool.gpn == 0
        if pool.count is not None and t > pool.count:
            ok = False
        if ok:
            out.append(t)
        t *= 2
    return out


def pp_options(arch: Arch, pool: PoolInfo, tp: int, max_pp: int | None) -> list[int]:
    cap = max_pp or MAX_PP_DEFAULT
    out = []
    for p in cm.divisors(arch.n_layers):
        if p > cap or (pool.count is not None and tp * p > pool.count):
            continue
        out.append(p)
    return out


def ep_options(arch: Arch, tp: int) -> list[int]:
    if arch.moe and tp > 1 and arch.experts % tp == 0:
        return [1, tp]
    return [1]


@dataclass
class _Raw:
    pool: int
    tp: int
    pp: int
    ep: int


def modeled_configs(
    inst: ParallelismInstance,
    arch: Arch,
    pools: list[PoolInfo],
    lengths: list[Lengths],
    shares: list[float],
    slo: Slo,
) -> tuple[list[Config], list[Rejection]]:
    raws: list[_Raw] = []
    for pool in pools:
        for tp in tp_options(arch, pool, inst.tp_across_nodes):
            for pp in pp_options(arch, pool, tp, inst.max_pp):
                for ep in ep_options(arch, tp):
                    raws.append(_Raw(pool.index, tp, pp, ep))
    rejected: list[Rejection] = []
    if not raws:
        return [], rejected
    tps = np.array([r.tp for r in raws], dtype=np.float64)
    pps = np.array([r.pp for r in raws], dtype=np.float64)
    mem = np.array([pools[r.pool].gpu.memory_gib for r in raws])
    util = np.array([pools[r.pool].cal.memory_utilization for r in raws])
    work = np.array([pools[r.pool].cal.workspace_gib for r in raws])
    weights = cm.weight_bytes_per_gpu(arch, tps, pps)
    free = cm.free_kv_bytes(arch, mem, util, work, tps, pps)
    kv_tok = cm.kv_tokens(arch, mem, util, work, tps, pps)
    need = max(ln.reserved for ln in lengths)
    keep = []
    for i, r in enumerate(raws):
        data = {
            "weights_gib": float(weights[i] / cm.GIB),
            "usable_gib": float(mem[i] * util[i]),
            "free_gib": float(free[i] / cm.GIB),
            "kv_tokens": float(kv_tok[i]),
            "request_tokens": float(need),
        }
        if free[i] <= 0:
            rejected.append(Rejection(r.pool, r.tp, r.pp, "memory", data))
        elif kv_tok[i] < min(ln.reserved for ln in lengths):
            rejected.append(Rejection(r.pool, r.tp, r.pp, "kv", data))
        else:
            keep.append(i)
    if not keep:
        return [], rejected
    raws = [raws[i] for i in keep]
    weights, kv_tok = weights[keep], kv_tok[keep]
    lay = [layout(r.tp, r.pp, pools[r.pool].gpn) for r in raws]
    hw = hardware_for(pools, [(r.pool, r.tp, r.pp, r.ep, x[1], x[2]) for r, x in zip(raws, lay, strict=True)])
    caps: list[np.ndarray] = []
    batch = np.zeros(len(raws), dtype=np.int64)
    bindings: list[list[str]] = [[] for _ in raws]
    for ln in lengths:
        res = cm.capacity(cm.curve(arch, hw, ln, kv_tok), slo)
        caps.append(np.floor(res.rate * RATE_SCALE + 1e-6).astype(np.int64))
        batch = np.maximum(batch, res.batch_cap)
        for i, b in enumerate(res.binding):
            bindings[i].append(b)
    out: list[Config] = []
    for i, r in enumerate(raws):
        cap = [int(c[i]) for c in caps]
        if not any(cap):
            lone = cm.curve(arch, hw.subset([i]), lengths[0], kv_tok[i : i + 1]).at(np.array([1e-9]))
            rejected.append(
                Rejection(
                    r.pool,
                    r.tp,
                    r.pp,
                    "slo",
                    {"tpot_ms": float(lone["tpot"][0] * 1e3), "ttft_ms": float(lone["ttft"][0] * 1e3)},
                )
            )
            continue
        out.append(
            new_config(
                pools[r.pool],
                r.tp,
                r.pp,
                r.ep,
                cap,
                shares,
                max_batch=int(batch[i]),
                weights_gib=float(weights[i] / cm.GIB),
                kv_tokens=int(kv_tok[i]),
                binding=bindings[i],
            )
        )
    return out, rejected


def new_config(
    pool: PoolInfo,
    tp: int,
    pp: int,
    ep: int,
    cap: list[int],
    shares: list[float],
    *,
    max_batch: int | None,
    measured: bool = False,
    weights_gib: float | None = None,
    kv_tokens: int | None = None,
    binding: list[str] | None = None,
) -> Config:
    """A configuration on a pool: its node layout, mixed-workload capacity and price follow."""
    items, tp_in_node, pp_in_node = layout(tp, pp, pool.gpn)
    return Config(
        pool=pool.index,
        tp=tp,
        pp=pp,
        ep=ep,
        items=items,
        tp_in_node=tp_in_node,
        pp_in_node=pp_in_node,
        measured=measured,
        max_batch=max_batch,
        cap=cap,
        mix=mixed(cap, shares),
        cost_micro=tp * pp * pool.price_micro,
        weights_gib=weights_gib,
        kv_tokens=kv_tokens,
        binding=list(binding or []),
    )


def mixed(cap: list[int], shares: list[float]) -> int:
    """Capacity on the whole mix: a replica serving every bucket in its share, 1 / sum(share / cap)."""
    if any(c <= 0 for c, s in zip(cap, shares, strict=True) if s > 0):
        return 0
    return int(math.floor(1.0 / sum(s / c for c, s in zip(cap, shares, strict=True) if s > 0) + 1e-9))


def measured_configs(inst: ParallelismInstance, pools: list[PoolInfo], shares: list[float]) -> list[Config]:
    by_name = {p.name: p for p in pools}
    out = []
    assert inst.candidates is not None
    for c in inst.candidates:
        pool = by_name[c.gpu]
        caps = c.capacity_rps if isinstance(c.capacity_rps, list) else [c.capacity_rps]
        cap = [int(math.floor(x * RATE_SCALE + 1e-6)) for x in caps]
        if not any(cap):
            continue
        out.append(new_config(pool, c.tp, c.pp, c.ep, cap, shares, max_batch=c.max_batch, measured=True))
    return out


# the integer model's data -------------------------------------------------------------------------


def slice_loads(configs: list[Config], bucket_demand: list[float], slices: int) -> list[list[int]]:
    """Load of one slice of each bucket on one replica of each configuration, 1e-6 replica, rounded up
    (after taking decimal noise off, so that 6 / 20 is 0.3 replica exactly)."""
    out = []
    for b, d in enumerate(bucket_demand):
        row = []
        for c in configs:
            if c.cap[b] <= 0:
                row.append(-1)  # cannot serve this bucket
                continue
            x = d / slices / (c.cap[b] / RATE_SCALE) * LOAD_SCALE
            row.append(int(math.ceil(round(x, 6))))
        out.append(row)
    return out


def variants_of(p: Problem) -> list[Variant]:
    out = []
    if p.objective != "min_latency":
        for i, c in enumerate(p.configs):
            load = c.mix if p.mode == "coverage" else 0
            if p.mode == "coverage" and load <= 0:
                continue
            out.append(Variant(i, LEVELS, load))
        return out
    assert p.arch is not None and p.lengths is not None
    cfg_idx = [i for i, c in enumerate(p.configs) if c.mix > 0]
    if not cfg_idx:
        return out
    hw = hardware(p, [p.configs[i] for i in cfg_idx])
    kv = np.array([p.configs[i].kv_tokens or 0 for i in cfg_idx], dtype=np.float64)
    curve = cm.curve(p.arch, hw, p.lengths[0], kv)
    for level in range(1, LEVELS + 1):
        loads = [p.configs[i].mix * level // LEVELS for i in cfg_idx]
        point = cm.at_rate(curve, np.array(loads, dtype=np.float64) / RATE_SCALE)
        for k, i in enumerate(cfg_idx):
            if loads[k] <= 0:
                continue
            lat = int(round(float(point["latency"][k]) * 1e3 * LATENCY_SCALE))
            out.append(Variant(i, level, loads[k], lat))
    out.sort(key=lambda v: (v.config, v.level))
    return out


def hardware_for(pools: list[PoolInfo], rows: list[tuple[int, int, int, int, bool, bool]]) -> cm.Hardware:
    """The cost model's arrays for configurations given as (pool, tp, pp, ep, tp_in_node, pp_in_node)."""
    return cm.Hardware.build(
        [pools[r[0]].gpu for r in rows],
        [pools[r[0]].cal for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
    )


def hardware(p: Problem, configs: list[Config]) -> cm.Hardware:
    return hardware_for(p.pools, [(c.pool, c.tp, c.pp, c.ep, c.tp_in_node, c.pp_in_node) for c in configs])


def upper_bound(p: Problem, v: Variant) -> int:
    c = p.configs[v.config]
    pool = p.pools[c.pool]
    ub = None
    if pool.limited:
        ub = min(pool.room(s) // c.contribution(s) for s in set(c.items))
    if p.objective != "max_throughput":
        if p.mode == "coverage":
            need = cm.ceil_div(p.demand_int, v.load)
        else:
            loads = [p.slice_load[b][v.config] for b in range(len(p.shares))]
            if all(x < 0 for x in loads):
                need = 0
            else:
                need = cm.ceil_div(sum(x for x in loads if x > 0) * p.slice_factor, LOAD_SCALE)
        ub = need if ub is None else min(ub, need)
    assert ub is not None  # max_throughput pools are limited (validated)
    return max(0, ub)


def prune_dominated(p: Problem, variants: list[Variant]) -> list[Variant]:
    """Drop a variant when another one of the same pool is no worse in every respect: no more room in
    any packing size, no higher cost, no less capacity (in every bucket), no higher latency. Keeps the
    first of identical ones. Exact: any plan using the dominated variant stays feasible and no worse
    with the other in its place."""
    keep: list[Variant] = []
    by_pool: dict[int, list[int]] = {}
    for k, v in enumerate(variants):
        by_pool.setdefault(p.configs[v.config].pool, []).append(k)
    for pool, members in by_pool.items():
        sizes = p.sizes(pool) if p.pools[pool].limited else []
        rows = []
        for k in members:
            v = variants[k]
            c = p.configs[v.config]
            res = [c.contribution(s) for s in sizes]
            benefit = c.cap if p.mode == "buckets" else [v.load]
            rows.append([*res, c.cost_micro, v.latency_us, *[-x for x in benefit]])
        a = np.array(rows, dtype=np.int64)
        n = len(members)
        for i in range(n):
            no_worse = np.all(a <= a[i], axis=1)
            better = np.any(a < a[i], axis=1)
            earlier_equal = no_worse & ~better & (np.arange(n) < i)
            if np.any(no_worse & better) or np.any(earlier_equal):
                continue
            keep.append(variants[members[i]])
    keep.sort(key=lambda v: (v.config, v.level))
    return keep


def build(inst: ParallelismInstance) -> Problem:
    arch = resolve_arch(inst.model)
    pools = resolve_pools(inst)
    lengths, shares = workload_lengths(inst)
    w = inst.workload
    slo = Slo(None if w.ttft_ms is None else w.ttft_ms / 1e3, None if w.tpot_ms is None else w.tpot_ms / 1e3)
    rejected: list[Rejection] = []
    if inst.candidates is not None:
        configs = measured_configs(inst, pools, shares)
    else:
        assert arch is not None and lengths is not None
        configs, rejected = modeled_configs(inst, arch, pools, lengths, shares, slo)
    mode = "buckets" if (w.buckets is not None and inst.objective == "min_cost") else "coverage"
    demand = w.rate_rps * (1.0 + w.headroom)
    notes = [f"{pool.name}: {pool.gpu.approximate}" for pool in pools if pool.gpu.approximate]
    p = Problem(
        inst=inst,
        arch=arch,
        pools=pools,
        lengths=lengths,
        shares=shares,
        slo=slo,
        objective=inst.objective,
        mode=mode,
        rate=w.rate_rps,
        demand=demand,
        demand_int=int(math.ceil(demand * RATE_SCALE - 1e-6)),
        slice_factor=w.slice_factor if mode == "buckets" else 1,
        slice_load=[],
        configs=configs,
        all_variants=[],
        variants=[],
        ub=[],
        rejected=rejected,
        notes=notes,
    )
    if mode == "buckets":
        p.slice_load = slice_loads(configs, p.bucket_demand(), p.slice_factor)
    p.all_variants = variants_of(p)
    pruned = prune_dominated(p, p.all_variants)
    bounded = [(v, upper_bound(p, v)) for v in pruned]
    p.variants = [v for v, ub in bounded if ub > 0]
    p.ub = [ub for _, ub in bounded if ub > 0]
    return p
