"""Independent oracle: is a parallelism plan valid for its instance, and what is its objective?

Shares nothing with the formulations (problem.py, formulation.py, exact.py, plans.py): the instance is
resolved here from the presets (the model, the GPU pools and their nodes, the workload's lengths), memory
is recomputed from the architecture, replicas are actually packed into each pool's nodes (first fit,
largest first), the demand and the bucket slices are added up from the plan. Capacities and latencies
are recomputed with the cost model (the physics the instance refers to) and the plan's figures must not
claim more than it predicts.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from models.parallelism import (
    LATENCY_SCALE,
    LOAD_LEVELS,
    PRICE_SCALE,
    RATE_SCALE,
    ModelSpec,
    ParallelismInstance,
    ParallelismPlan,
    ReplicaGroup,
)
from solver.engine.family import CheckReport
from solver.parallelism import costmodel as cm
from solver.parallelism.presets import gpu_preset, model_preset

REL = 1e-6  # tolerance on recomputed predictions
ABS_MS = 2e-3  # plans round times to 1 us
GPU_SPEC = ("memory_gib", "hbm_gb_per_s", "dense_tflops", "intra_node_gb_per_s", "inter_node_gb_per_s")


@dataclass
class PoolSpec:
    """A pool of the instance as the checker reads it."""

    index: int
    gpu: cm.Gpu
    cal: cm.Calibration
    count: int | None  # None: unlimited
    nodes: list[int]  # GPUs in each node (the last one partial)

    @property
    def gpn(self) -> int:
        return self.gpu.gpus_per_node


def _price(cost_per_hour: float) -> int:
    return int(round(cost_per_hour * PRICE_SCALE))


def _arch(m: str | ModelSpec | None) -> cm.Arch:
    if isinstance(m, str):
        preset = model_preset(m)
        assert preset is not None  # validated
        return preset
    assert m is not None
    given = m.model_dump(exclude_none=True, exclude={"preset"})
    base = model_preset(m.preset) if m.preset else None
    if "head_dim" not in given and (base is None or "hidden" in given or "heads" in given):
        hidden = given.get("hidden", base.hidden if base else 0)
        given["head_dim"] = hidden // given.get("heads", base.heads if base else 1)
    if base is None:
        return cm.Arch(**{"name": "custom model", **given})
    return dataclasses.replace(base, **given)


def _pools(inst: ParallelismInstance) -> dict[str, PoolSpec]:
    out = {}
    for i, spec in enumerate(inst.inventory):
        preset = gpu_preset(spec.gpu)
        given = {f: getattr(spec, f) for f in (*GPU_SPEC, "gpus_per_node") if getattr(spec, f) is not None}
        gpu = cm.Gpu(name=spec.gpu, **given) if preset is None else dataclasses.replace(preset, **given)
        cal = cm.calibration_for(gpu.name).merged(inst.calibration).merged(spec.calibration)
        nodes: list[int] = []
        if spec.count is not None:
            whole, rest = divmod(spec.count, gpu.gpus_per_node)
            nodes = [gpu.gpus_per_node] * whole + ([rest] if rest else [])
        out[spec.name or spec.gpu] = PoolSpec(i, gpu, cal, spec.count, nodes)
    return out


def _workload(inst: ParallelismInstance) -> tuple[list[cm.Lengths], list[float]]:
    """The request lengths the capacities refer to, per bucket, and the buckets' shares. min_latency
    with a histogram: one mean request, its p90 lengths read off the histogram."""
    w = inst.workload
    if w.buckets is None:
        if w.prompt_tokens is None or w.output_tokens is None:
            return [], [1.0]
        tails = (w.prompt_tokens_p90 or w.prompt_tokens, w.output_tokens_p90 or w.output_tokens)
        return [cm.Lengths(w.prompt_tokens, w.output_tokens, *tails)], [1.0]
    weight = sum(b.share for b in w.buckets)
    shares = [b.share / weight for b in w.buckets]
    if inst.objective != "min_latency":
        sizes = [(b.prompt_tokens, b.output_tokens) for b in w.buckets]
        return [cm.Lengths(p, o, p, o) for p, o in sizes], shares

    def p90(values: list[int]) -> float:
        ranked = sorted(zip(values, shares, strict=True))
        cumulative = np.cumsum([s for _, s in ranked])
        k = int(np.searchsorted(cumulative, 0.9 - 1e-12))
        return float(ranked[min(k, len(ranked) - 1)][0])

    prompts = [b.prompt_tokens for b in w.buckets]
    outputs = [b.output_tokens for b in w.buckets]
    mean = (float(np.dot(shares, prompts)), float(np.dot(shares, outputs)))
    return [cm.Lengths(*mean, p90(prompts), p90(outputs))], [1.0]


def check(inst: ParallelismInstance, plan: ParallelismPlan) -> CheckReport:
    v: list[str] = []
    arch = _arch(inst.model) if inst.candidates is None else None
    pools = _pools(inst)
    lengths, shares = _workload(inst)
    w = inst.workload
    demand = w.rate_rps * (1.0 + w.headroom)
    buckets_mode = w.buckets is not None and inst.objective == "min_cost"
    n_buckets = len(shares)
    placed: dict[str, list[int]] = {}
    slices_total = [0] * n_buckets
    for i, g in enumerate(plan.replicas):
        at = f"replicas[{i}] ({g.pool} TP{g.tp} PP{g.pp} x{g.count})"
        pool = pools.get(g.pool)
        if pool is None:
            v.append(f"{at}: no pool named {g.pool!r}")
            continue
        if g.gpu != pool.gpu.name:
            v.append(f"{at}: gpu {g.gpu!r} is not the pool's ({pool.gpu.name})")
        if g.gpus_per_replica != g.tp * g.pp:
            v.append(f"{at}: gpus_per_replica {g.gpus_per_replica} != tp x pp ({g.tp * g.pp})")
        price = _price(inst.inventory[pool.index].cost_per_hour)
        if abs(g.cost_per_hour - g.tp * g.pp * price / PRICE_SCALE) > 1e-9:
            v.append(f"{at}: cost_per_hour {g.cost_per_hour} is not tp x pp x the pool's price")
        if not cm.is_power_of_two(g.tp):
            v.append(f"{at}: TP {g.tp} is not a power of two")
        elif g.tp > pool.gpn and not (inst.tp_across_nodes and g.tp % pool.gpn == 0):
            v.append(f"{at}: TP {g.tp} spans nodes of {pool.gpn} GPUs (tp_across_nodes is off)")
        placed.setdefault(g.pool, []).extend(_items(g.tp, g.pp, pool.gpn) * g.count)
        if inst.candidates is not None:
            _measured(inst, shares, g, at, v)
        else:
            assert arch is not None and lengths
            _modeled(inst, arch, pool, lengths, shares, g, at, v)
        if g.load_rps < -1e-12 or (not buckets_mode and g.load_rps > g.capacity_rps * (1 + 1e-9) + 1e-9):
            v.append(f"{at}: load {g.load_rps} req/s outside [0, capacity {g.capacity_rps}]")
        if buckets_mode:
            if g.bucket_slices is None or len(g.bucket_slices) != n_buckets or g.bucket_capacity_rps is None:
                v.append(f"{at}: needs bucket_slices and bucket_capacity_rps, one per bucket ({n_buckets})")
                continue
            busy = 0.0
            for b, s in enumerate(g.bucket_slices):
                if s < 0:
                    v.append(f"{at}: negative slices of bucket {b}")
                if s <= 0:
                    continue
                slices_total[b] += s
                cap_b = g.bucket_capacity_rps[b]
                if cap_b <= 0:
                    v.append(f"{at}: serves bucket {b}, which it cannot (capacity 0)")
                    continue
                busy += s * demand * shares[b] / w.slice_factor / cap_b
            if busy > g.count * (1 + 1e-9):
                v.append(f"{at}: its slices need {busy:.6f} replicas, it has {g.count}")
        if inst.objective == "min_latency":
            cap_q = round(g.capacity_rps * RATE_SCALE)
            load_q = round(g.load_rps * RATE_SCALE)
            if not any(load_q == cap_q * k // LOAD_LEVELS for k in range(1, LOAD_LEVELS + 1)):
                v.append(
                    f"{at}: min_latency sizes replicas at k/{LOAD_LEVELS} of capacity; "
                    f"load {g.load_rps} is not"
                )
            if g.latency_ms is None:
                v.append(f"{at}: no predicted latency")
    _pack(pools, placed, v)
    if buckets_mode:
        for b, s in enumerate(slices_total):
            if s != w.slice_factor:
                v.append(f"bucket {b}: {s} slices assigned, expected {w.slice_factor}")
    elif inst.objective != "max_throughput":
        carried = sum(g.count * g.load_rps for g in plan.replicas)
        if carried < demand * (1 - 1e-9) - 1e-9:
            v.append(
                f"demand: the replicas carry {carried:.4f} req/s, below {demand:g} (rate x (1 + headroom))"
            )
    _totals(plan, v)
    return CheckReport(v, objective(inst, plan))


def objective(inst: ParallelismInstance, plan: ParallelismPlan) -> dict[str, float]:
    price = {p.name or p.gpu: _price(p.cost_per_hour) for p in inst.inventory}
    cost = sum(g.count * g.tp * g.pp * price.get(g.pool, 0) for g in plan.replicas) / PRICE_SCALE
    if inst.objective == "max_throughput":
        thr = sum(g.count * round(g.capacity_rps * RATE_SCALE) for g in plan.replicas) / RATE_SCALE
        return {"throughput_rps": thr, "cost_per_hour": cost}
    if inst.objective == "min_latency":
        lat = max((round((g.latency_ms or 0.0) * LATENCY_SCALE) for g in plan.replicas), default=0)
        return {"latency_ms": lat / LATENCY_SCALE, "cost_per_hour": cost}
    return {"cost_per_hour": cost}


def _items(tp: int, pp: int, gpn: int) -> list[int]:
    """How one replica occupies nodes: TP groups never split; a pipeline whose TP x PP is a power of
    two within a node runs in one node (its timing assumes the intra-node link)."""
    if tp > gpn:
        return [gpn] * (pp * (tp // gpn))
    if pp > 1 and tp * pp <= gpn and cm.is_power_of_two(tp * pp):
        return [tp * pp]
    return [tp] * pp


def first_fit(free: list[int], items: list[int]) -> int | None:
    """Place items (largest first) in the first node with room, taking the room from `free`; the size
    of the first item that fits nowhere, or None when all fit. With power-of-two item sizes, first fit
    decreasing packs whenever any packing exists."""
    for size in sorted(items, reverse=True):
        for k, f in enumerate(free):
            if f >= size:
                free[k] -= size
                break
        else:
            return size
    return None


def _pack(pools: dict[str, PoolSpec], placed: dict[str, list[int]], v: list[str]) -> None:
    for name, items in placed.items():
        pool = pools.get(name)
        if pool is None or pool.count is None:
            continue
        used = sum(items)
        if used > pool.count:
            v.append(f"pool {name}: the plan uses {used} GPUs, the pool has {pool.count}")
            continue
        free = list(pool.nodes)
        size = first_fit(free, items)
        if size is not None:
            last = pool.nodes[-1] if pool.nodes and pool.nodes[-1] != pool.gpn else None
            nodes = f"{len(pool.nodes)} nodes of {pool.gpn} GPUs" + (
                f", the last with {last}" if last else ""
            )
            v.append(
                f"pool {name}: a {size}-GPU group does not fit in any node ({nodes}, "
                f"{sum(free)} GPUs left in pieces of {max(free, default=0)} or fewer)"
            )


def _measured(inst: ParallelismInstance, shares: list[float], g: ReplicaGroup, at: str, v: list[str]) -> None:
    assert inst.candidates is not None
    match = [
        c
        for c in inst.candidates
        if (c.gpu, c.tp, c.pp, c.ep, c.max_batch) == (g.pool, g.tp, g.pp, g.ep, g.max_batch)
    ]
    if not match:
        v.append(f"{at}: not one of the measured candidates")
        return
    caps = match[0].capacity_rps if isinstance(match[0].capacity_rps, list) else [match[0].capacity_rps]
    stated = g.bucket_capacity_rps if g.bucket_capacity_rps is not None else [g.capacity_rps]
    if len(stated) != len(caps) or any(s > c + 1e-9 for s, c in zip(stated, caps, strict=False)):
        v.append(f"{at}: capacities {stated} above the measured {caps}")
    _mix_claim(g, caps, shares, at, v)


def _mix_claim(g: ReplicaGroup, caps: list[float], shares: list[float], at: str, v: list[str]) -> None:
    if any(c <= 0 for c, s in zip(caps, shares, strict=False) if s > 0):
        mix = 0.0
    else:
        mix = 1.0 / sum(s / c for c, s in zip(caps, shares, strict=False) if s > 0)
    if g.capacity_rps > mix * (1 + 1e-9) + 1e-9:
        v.append(f"{at}: capacity {g.capacity_rps} req/s above its {mix:.4f} on the workload mix")


def _modeled(
    inst: ParallelismInstance,
    arch: cm.Arch,
    pool: PoolSpec,
    lengths: list[cm.Lengths],
    shares: list[float],
    g: ReplicaGroup,
    at: str,
    v: list[str],
) -> None:
    L, h, a, kvh, d = arch.n_layers, arch.hidden, arch.heads, arch.kv_heads, arch.head_dim
    if a % g.tp or not (kvh % g.tp == 0 or g.tp % kvh == 0) or arch.ffn % g.tp:
        v.append(f"{at}: TP {g.tp} does not split {a} heads / {kvh} KV heads / ffn {arch.ffn}")
        return
    if L % g.pp:
        v.append(f"{at}: PP {g.pp} does not divide {L} layers")
        return
    if g.ep != 1 and not (arch.experts > 1 and g.ep == g.tp and arch.experts % g.ep == 0):
        v.append(f"{at}: EP {g.ep} invalid (1, or TP for an MoE model whose experts it divides)")
        return
    if g.max_batch is None or g.max_batch < 1:
        v.append(f"{at}: needs a batch cap")
        return
    # memory, recomputed from the architecture
    heads_kv = math.ceil(kvh / g.tp)
    per_layer = 2 * h * d * a / g.tp + 2 * h * d * heads_kv + arch.experts * 3 * h * arch.ffn / g.tp
    if arch.qkv_bias:
        per_layer += d * (a / g.tp + 2 * heads_kv)
    if arch.experts > 1:
        per_layer += h * arch.experts
    embed = arch.vocab * h / g.tp * (2 if g.pp == 1 and not arch.tied_embeddings else 1)
    weights = arch.weight_bytes * (L / g.pp * per_layer + embed)
    if g.weights_gib_per_gpu is None or abs(g.weights_gib_per_gpu - weights / cm.GIB) > 1e-3:
        v.append(
            f"{at}: weights_gib_per_gpu {g.weights_gib_per_gpu} but the model puts {weights / cm.GIB:.4f} GiB"
        )
    workspace = pool.cal.workspace_gib * cm.GIB + 2048 * (4 * h + 2 * arch.top_k * arch.ffn / g.tp) * 2
    free = pool.gpu.memory_gib * cm.GIB * pool.cal.memory_utilization - weights - workspace
    per_token = 2 * (L / g.pp) * heads_kv * d * arch.kv_bytes
    room = math.floor(max(free, 0.0) / per_token)
    need = min(ln.reserved for ln in lengths)
    if free <= 0:
        v.append(
            f"{at}: {weights / cm.GIB:.2f} GiB of weights per GPU do not fit {pool.gpu.memory_gib:g} GiB"
        )
        return
    if g.kv_tokens is None or g.kv_tokens > room:
        v.append(f"{at}: kv_tokens {g.kv_tokens} above the {room} the memory left holds")
    if room < need:
        v.append(f"{at}: KV cache of {room} tokens cannot hold one request ({need:g} tokens)")
        return
    # capacity and predictions, recomputed with the cost model at the plan's batch cap, every bucket at once
    items = _items(g.tp, g.pp, pool.gpn)
    tp_in_node = g.tp <= pool.gpn
    pp_in_node = g.pp == 1 or (len(items) == 1 and tp_in_node)
    nb = len(lengths)
    hw = cm.Hardware.build(
        [pool.gpu] * nb,
        [pool.cal] * nb,
        [g.tp] * nb,
        [g.pp] * nb,
        [g.ep] * nb,
        [tp_in_node] * nb,
        [pp_in_node] * nb,
    )
    slo = cm.Slo(
        None if inst.workload.ttft_ms is None else inst.workload.ttft_ms / 1e3,
        None if inst.workload.tpot_ms is None else inst.workload.tpot_ms / 1e3,
    )
    curve = cm.curve(arch, hw, cm.Lengths.stack(lengths), np.full(nb, float(room)))
    caps = [float(x) for x in cm.capacity(curve, slo, max_batch=np.full(nb, g.max_batch)).rate]
    stated = g.bucket_capacity_rps if g.bucket_capacity_rps is not None else [g.capacity_rps]
    if len(stated) != len(caps):
        v.append(f"{at}: {len(stated)} bucket capacities for {len(caps)} buckets")
        return
    for b, (s, c) in enumerate(zip(stated, caps, strict=True)):
        if s > c + 1.5 / RATE_SCALE:
            v.append(f"{at}: capacity {s} req/s (bucket {b}) above the {c:.4f} the cost model predicts")
    _mix_claim(g, caps, shares, at, v)
    # predicted latencies at the plan's load, and the SLOs
    if g.ttft_ms is None or g.tpot_ms is None:
        v.append(f"{at}: no predicted TTFT/TPOT")
        return
    buckets_mode = inst.workload.buckets is not None and inst.objective == "min_cost"
    if buckets_mode:
        slices = g.bucket_slices or [0] * nb
        dem = inst.workload.rate_rps * (1 + inst.workload.headroom)
        busy = [
            s * dem * shares[b] / inst.workload.slice_factor / stated[b]
            for b, s in enumerate(slices)
            if s and stated[b] > 0
        ]
        util = sum(busy) / g.count
        rates = {b: util * stated[b] for b, s in enumerate(slices) if s}
    elif nb == 1:
        rates = {0: g.load_rps}
    else:
        util = g.load_rps / g.capacity_rps if g.capacity_rps else 0.0
        rates = {b: util * stated[b] for b in range(nb)}
    if not rates:
        return
    point = cm.at_rate(curve, np.array([rates.get(b, 0.0) for b in range(nb)]))
    served = list(rates)
    worst = [max(float(point[key][b]) * 1e3 for b in served) for key in ("ttft", "tpot", "latency")]
    claims = (
        ("ttft_ms", g.ttft_ms, worst[0]),
        ("tpot_ms", g.tpot_ms, worst[1]),
        ("latency_ms", g.latency_ms, worst[2]),
    )
    for name, got, want in claims:
        if got is not None and abs(got - want) > ABS_MS + REL * want:
            v.append(f"{at}: {name} {got} but the cost model predicts {want:.4f} at its load")
    if slo.ttft_s is not None and worst[0] > slo.ttft_s * 1e3 * (1 + REL):
        v.append(f"{at}: predicted TTFT {worst[0]:.2f} ms above the {inst.workload.ttft_ms:g} ms target")
    if slo.tpot_s is not None and worst[1] > slo.tpot_s * 1e3 * (1 + REL):
        v.append(f"{at}: predicted TPOT {worst[1]:.2f} ms above the {inst.workload.tpot_ms:g} ms target")


def _totals(plan: ParallelismPlan, v: list[str]) -> None:
    t = plan.totals
    replicas = sum(g.count for g in plan.replicas)
    gpus = sum(g.count * g.gpus_per_replica for g in plan.replicas)
    cost = sum(g.count * g.cost_per_hour for g in plan.replicas)
    if t.replicas != replicas or t.gpus != gpus:
        v.append(f"totals: {t.replicas} replicas / {t.gpus} GPUs, the groups add up to {replicas} / {gpus}")
    if abs(t.cost_per_hour - cost) > 1e-6 * max(1.0, cost):
        v.append(f"totals: cost_per_hour {t.cost_per_hour}, the groups add up to {cost}")
    for i, g in enumerate(plan.replicas):
        if abs(g.total_cost_per_hour - g.count * g.cost_per_hour) > 1e-6 * max(1.0, g.total_cost_per_hour):
            v.append(f"replicas[{i}]: total_cost_per_hour is not count x cost_per_hour")
