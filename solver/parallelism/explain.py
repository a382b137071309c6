"""Why no plan exists (with the binding limit and its numbers), and what a plan leaves out.

Proven before any search: no configuration fits memory ("Llama-3-70B bf16 needs 131 GiB of weights;
largest single pool node has 80 GiB per GPU x 1 GPU"), none leaves KV room for one request, none meets
the SLOs even alone, or the rate is above what the inventory can serve at the SLOs even ignoring the
node packing. What only the exact engine can prove (the packing) is explained with the same numbers.
"""

from __future__ import annotations

from fractions import Fraction

from models.common import Explanation
from models.parallelism import ParallelismPlan
from solver.parallelism.costmodel import GIB, fmt_gib
from solver.parallelism.problem import RATE_SCALE, Problem, Rejection


def conflicts(p: Problem) -> list[Explanation]:
    if not p.configs:
        return [_nothing_fits(p)]
    if p.objective == "max_throughput":
        return []
    if p.mode == "buckets":
        return _bucket_conflicts(p)
    ub, parts = capacity_bound(p)
    if ub is not None and ub < p.demand - 1e-9:
        return [_capacity(p, ub, parts)]
    return []


def _bucket_conflicts(p: Problem) -> list[Explanation]:
    buckets = p.inst.workload.buckets or []
    for b, bucket in enumerate(buckets):
        if not any(c.cap[b] > 0 for c in p.configs):
            return [
                Explanation(
                    item=f"workload.buckets[{b}]",
                    constraint="slo",
                    message=f"no configuration serves bucket {b} ({bucket.prompt_tokens} prompt, "
                    f"{bucket.output_tokens} output tokens) at the SLOs",
                )
            ]
    need, total = gpu_time_bound(p)
    if need is None or need <= total:
        return []
    return [
        Explanation(
            item="workload.rate_rps",
            constraint="capacity",
            message=f"the histogram's {p.demand:g} req/s need at least {need:.2f} GPUs busy at the SLOs "
            f"(each bucket on its most GPU-efficient configuration); the inventory has {total}",
            data={"rate_rps": p.demand, "gpus_needed": round(need, 6), "gpus": total},
        )
    ]


def gpu_time_bound(p: Problem) -> tuple[float | None, int]:
    """GPUs the buckets keep busy at least (None when a pool is unlimited), and the GPUs there are."""
    if any(not pool.limited for pool in p.pools if any(c.pool == pool.index for c in p.configs)):
        return None, 0
    need = Fraction(0)
    for b, d in enumerate(p.bucket_demand()):
        need += Fraction(d) * min(Fraction(c.gpus * RATE_SCALE, c.cap[b]) for c in p.configs if c.cap[b] > 0)
    return float(need), sum(pool.count or 0 for pool in p.pools)


def _cfg(p: Problem, r: Rejection) -> str:
    return f"{p.pools[r.pool].name} TP{r.tp} x PP{r.pp}"


def _nothing_fits(p: Problem) -> Explanation:
    if p.measured:
        return Explanation(
            item="candidates",
            constraint="capacity",
            message="every measured candidate has zero capacity: no configuration serves any bucket",
        )
    assert p.arch is not None
    if not p.rejected:  # TP1 x PP1 is a candidate on any pool with a GPU
        return Explanation(
            item="inventory",
            constraint="capacity",
            message="the inventory has no GPUs: every pool has count 0 "
            f"({', '.join(q.name for q in p.pools)})",
            data={"gpus": 0},
        )
    slo = [r for r in p.rejected if r.reason == "slo"]
    if slo:
        return _slo(p, slo)
    kv = [r for r in p.rejected if r.reason == "kv"]
    if kv:
        best = max(kv, key=lambda r: r.data["kv_tokens"])
        return Explanation(
            item="model",
            constraint="memory",
            message=f"{p.arch.name} {p.arch.dtype} weights fit ({_cfg(p, best)}: "
            f"{best.data['weights_gib']:.1f} GiB per GPU) but leave KV-cache room for "
            f"{int(best.data['kv_tokens'])} tokens; one request needs up to "
            f"{int(best.data['request_tokens'])} (p90 prompt + p90 output)",
            data=_where(p, best),
        )
    return _memory(p)


def _memory(p: Problem) -> Explanation:
    arch = p.arch
    assert arch is not None
    need = arch.weights_bytes / GIB

    def node_gpus(pool_index: int) -> int:
        pool = p.pools[pool_index]
        return min(pool.count, pool.gpn) if pool.count is not None else pool.gpn

    big = max(range(len(p.pools)), key=lambda i: (p.pools[i].gpu.memory_gib * node_gpus(i), -i))
    pool = p.pools[big]
    k = node_gpus(big)
    msg = (
        f"{arch.name} {arch.dtype} needs {fmt_gib(need)} GiB of weights; largest single pool node has "
        f"{pool.gpu.memory_gib:g} GiB per GPU x {k} GPU{'s' if k != 1 else ''}"
    )
    data: dict[str, object] = {
        "weights_gib": round(need, 3),
        "pool": pool.name,
        "memory_gib_per_gpu": pool.gpu.memory_gib,
        "gpus_per_node": k,
    }
    mem = [r for r in p.rejected if r.reason == "memory"]
    if mem:
        best = max(mem, key=lambda r: r.data["free_gib"])
        msg += (
            f"; the closest configuration, {_cfg(p, best)}, puts {best.data['weights_gib']:.1f} GiB of "
            f"weights on each GPU, {-best.data['free_gib']:.1f} GiB more than the "
            f"{best.data['usable_gib']:.1f} GiB usable leave after the workspace"
        )
        data["closest"] = _where(p, best)
    return Explanation(item="model", constraint="memory", message=msg, data=data)


def _where(p: Problem, r: Rejection) -> dict[str, object]:
    """A rejected configuration and its numbers, for an explanation's data."""
    return {"pool": p.pools[r.pool].name, "tp": r.tp, "pp": r.pp, **r.data}


def _slo(p: Problem, slo: list[Rejection]) -> Explanation:
    w = p.inst.workload
    fast_tpot = min(slo, key=lambda r: r.data["tpot_ms"])
    fast_ttft = min(slo, key=lambda r: r.data["ttft_ms"])
    if w.tpot_ms is not None and fast_tpot.data["tpot_ms"] > w.tpot_ms:
        item, best = "workload.tpot_ms", fast_tpot
        msg = (
            f"no configuration meets TPOT {w.tpot_ms:g} ms: the fastest, {_cfg(p, best)}, takes "
            f"{best.data['tpot_ms']:.1f} ms per output token even alone"
        )
    elif w.ttft_ms is not None and fast_ttft.data["ttft_ms"] > w.ttft_ms:
        item, best = "workload.ttft_ms", fast_ttft
        prompt = p.lengths[0].prompt_p90 if p.lengths else 0
        msg = (
            f"no configuration meets TTFT {w.ttft_ms:g} ms: the fastest, {_cfg(p, best)}, takes "
            f"{best.data['ttft_ms']:.0f} ms to the first token of a {prompt:g}-token prompt even alone"
        )
    else:
        return Explanation(
            item="workload",
            constraint="slo",
            message=f"no configuration meets TTFT {w.ttft_ms:g} ms and TPOT {w.tpot_ms:g} ms together: the "
            f"fastest decoder, {_cfg(p, fast_tpot)} ({fast_tpot.data['tpot_ms']:.1f} ms per token), takes "
            f"{fast_tpot.data['ttft_ms']:.0f} ms to the first token; the fastest prefill, "
            f"{_cfg(p, fast_ttft)} ({fast_ttft.data['ttft_ms']:.0f} ms), decodes at "
            f"{fast_ttft.data['tpot_ms']:.1f} ms per token",
            data={"fastest_decoder": _where(p, fast_tpot), "fastest_prefill": _where(p, fast_ttft)},
        )
    return Explanation(item=item, constraint="slo", message=msg, data=_where(p, best))


def capacity_bound(p: Problem) -> tuple[float | None, list[str]]:
    """Req/s the inventory serves at most at the SLOs (node packing ignored), with each pool's part;
    None when a pool with a configuration is unlimited."""
    if any(not pool.limited for pool in p.pools if any(c.pool == pool.index for c in p.configs)):
        return None, []
    total = Fraction(0)
    parts = []
    for pool in p.pools:
        mine = [c for c in p.configs if c.pool == pool.index and c.gpus <= (pool.count or 0) and c.mix > 0]
        if not mine:
            continue
        best = max(mine, key=lambda c: Fraction(c.mix, c.gpus))
        per_gpu = Fraction(best.mix, best.gpus * RATE_SCALE)
        total += per_gpu * (pool.count or 0)
        parts.append(
            f"{pool.name}: {pool.count} GPUs x {float(per_gpu):.3f} req/s per GPU at best "
            f"(TP{best.tp} x PP{best.pp}, {best.mix / RATE_SCALE:g} req/s per replica)"
        )
    return float(total), parts


def _capacity(p: Problem, ub: float, parts: list[str]) -> Explanation:
    w = p.inst.workload
    asked = f"{p.demand:g} req/s" + (
        f" ({w.rate_rps:g} x (1 + headroom {w.headroom:g}))" if w.headroom else ""
    )
    msg = f"the inventory serves at most {ub:.3f} req/s{_slo_words(p)}, below the {asked} asked"
    if parts:
        msg += ": " + "; ".join(parts)
    return Explanation(
        item="workload.rate_rps",
        constraint="capacity",
        message=msg,
        data={"rate_rps": p.demand, "max_rps": round(ub, 6)},
    )


def _slo_words(p: Problem) -> str:
    w = p.inst.workload
    got = [f"TTFT {w.ttft_ms:g} ms" for _ in [0] if w.ttft_ms is not None]
    got += [f"TPOT {w.tpot_ms:g} ms" for _ in [0] if w.tpot_ms is not None]
    return f" at {' and '.join(got)}" if got and not p.measured else " at the SLOs"


def engine_conflicts(p: Problem, engine: str) -> list[Explanation]:
    ub, _ = capacity_bound(p) if p.mode == "coverage" else (None, [])
    bound = f" (ignoring the packing, up to {ub:.3f} req/s)" if ub is not None else ""
    return [
        Explanation(
            item="workload.rate_rps",
            constraint="packing",
            message=f"{engine} proved that no mix of the {len(p.configs)} candidate configurations serves "
            f"{p.demand:g} req/s within the inventory's nodes{bound}: replicas do not pack into the "
            "nodes finely enough",
            data={"rate_rps": p.demand, "configurations": len(p.configs)},
        )
    ]


def explain(p: Problem, plan: ParallelismPlan) -> list[Explanation]:
    out = []
    served = {c.pool for c in p.configs}
    for pool in p.pools:
        if pool.index in served:
            continue
        mine = [r for r in p.rejected if r.pool == pool.index]
        if not mine:
            continue
        reason = (
            "slo"
            if any(r.reason == "slo" for r in mine)
            else ("kv" if any(r.reason == "kv" for r in mine) else "memory")
        )
        if reason == "memory":
            best = max(mine, key=lambda r: r.data.get("free_gib", -1e18))
            msg = (
                f"pool {pool.name} is not used: no configuration fits memory (the closest, TP{best.tp} x "
                f"PP{best.pp}, needs {best.data['weights_gib']:.1f} GiB of weights per GPU of "
                f"{best.data['usable_gib']:.1f} GiB usable)"
            )
        elif reason == "kv":
            best = max((r for r in mine if r.reason == "kv"), key=lambda r: r.data["kv_tokens"])
            msg = (
                f"pool {pool.name} is not used: the weights fit but the KV cache holds at most "
                f"{int(best.data['kv_tokens'])} tokens (TP{best.tp} x PP{best.pp}); one request needs "
                f"{int(best.data['request_tokens'])}"
            )
        else:
            best = min((r for r in mine if r.reason == "slo"), key=lambda r: r.data["tpot_ms"])
            msg = (
                f"pool {pool.name} is not used: no configuration meets the SLOs (the fastest, TP{best.tp} x "
                f"PP{best.pp}, has TPOT {best.data['tpot_ms']:.1f} ms and TTFT {best.data['ttft_ms']:.0f} ms "
                "alone)"
            )
        out.append(
            Explanation(item=pool.name, constraint=reason if reason != "kv" else "memory", message=msg)
        )
    if p.objective == "max_throughput" and p.rate > 0 and plan.totals.capacity_rps < p.rate:
        out.append(
            Explanation(
                item="workload.rate_rps",
                constraint="capacity",
                message=f"the inventory serves at most {plan.totals.capacity_rps:g} req/s at the SLOs, below "
                f"the {p.rate:g} req/s of the workload",
                data={"max_rps": plan.totals.capacity_rps, "rate_rps": p.rate},
            )
        )
    return out
