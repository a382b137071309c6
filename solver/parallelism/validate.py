"""Rules that relate several fields of a parallelism instance; each error names its JSON path.

Bad input only: a well-formed instance that no plan serves (a model larger than every pool, SLOs no
configuration meets, a rate above the inventory) is not an error but a proven `infeasible` answer with
the numbers (see explain.py).
"""

from __future__ import annotations

from models.parallelism import ModelSpec, ParallelismInstance
from solver.engine.errors import FieldError, InvalidInstance
from solver.parallelism.costmodel import is_power_of_two
from solver.parallelism.presets import GPUS, MODELS, gpu_preset, model_preset

ARCH_FIELDS = ("n_layers", "hidden", "heads", "kv_heads", "ffn", "vocab")
GPU_FIELDS = ("memory_gib", "hbm_gb_per_s", "dense_tflops", "intra_node_gb_per_s", "inter_node_gb_per_s")
SHARE_TOLERANCE = 1e-6


def validate(inst: ParallelismInstance) -> None:
    errors: list[FieldError] = []
    _model(inst, errors)
    _workload(inst, errors)
    pools = _inventory(inst, errors)
    _candidates(inst, pools, errors)
    if errors:
        raise InvalidInstance(errors)


def _model(inst: ParallelismInstance, errors: list[FieldError]) -> None:
    known = ", ".join(sorted(k for k in MODELS))
    m = inst.model
    if m is None:
        if inst.candidates is None:
            errors.append(
                FieldError(("model",), "required unless every configuration is a measured candidate", None)
            )
        return
    if isinstance(m, str):
        if model_preset(m) is None:
            errors.append(FieldError(("model",), f"unknown model preset (known: {known})", m))
        return
    _spec(m, errors, known)


def _spec(m: ModelSpec, errors: list[FieldError], known: str) -> None:
    base = None
    if m.preset is not None:
        base = model_preset(m.preset)
        if base is None:
            errors.append(FieldError(("model", "preset"), f"unknown model preset (known: {known})", m.preset))
            return
    if base is None:
        missing = [f for f in ARCH_FIELDS if getattr(m, f) is None]
        for f in missing:
            errors.append(FieldError(("model", f), "required without a preset", None))
        if missing:
            return
    heads = m.heads if m.heads is not None else base.heads if base else 0
    kv = m.kv_heads if m.kv_heads is not None else base.kv_heads if base else 0
    hidden = m.hidden if m.hidden is not None else base.hidden if base else 0
    if kv > heads or heads % kv:
        errors.append(FieldError(("model", "kv_heads"), f"must divide heads ({heads})", kv))
    if (
        m.head_dim is None
        and hidden % heads
        and (base is None or m.hidden is not None or m.heads is not None)
    ):
        errors.append(
            FieldError(
                ("model", "head_dim"), f"required: hidden ({hidden}) is not a multiple of heads ({heads})"
            )
        )
    experts = m.experts if m.experts is not None else base.experts if base else 1
    top_k = m.top_k if m.top_k is not None else base.top_k if base else 1
    if top_k > experts:
        errors.append(FieldError(("model", "top_k"), f"must be at most experts ({experts})", top_k))


def _workload(inst: ParallelismInstance, errors: list[FieldError]) -> None:
    w = inst.workload
    if w.rate_rps <= 0 and inst.objective != "max_throughput":
        errors.append(
            FieldError(("workload", "rate_rps"), f"must be > 0 for objective {inst.objective}", w.rate_rps)
        )
    if w.buckets is not None:
        for f in ("prompt_tokens", "output_tokens", "prompt_tokens_p90", "output_tokens_p90"):
            if getattr(w, f) is not None:
                errors.append(
                    FieldError(("workload", f), "give either buckets or mean/p90 lengths", getattr(w, f))
                )
        total = sum(b.share for b in w.buckets)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            errors.append(
                FieldError(("workload", "buckets"), f"the shares add up to {total:g}; they must add up to 1")
            )
        return
    if inst.candidates is None:
        for f in ("prompt_tokens", "output_tokens"):
            if getattr(w, f) is None:
                errors.append(FieldError(("workload", f), "required without buckets", None))
    for f in ("prompt_tokens", "output_tokens"):
        mean, p90 = getattr(w, f), getattr(w, f + "_p90")
        if mean is not None and p90 is not None and p90 < mean:
            errors.append(FieldError(("workload", f + "_p90"), f"below the mean ({mean})", p90))
    if w.slice_factor != 1:
        errors.append(FieldError(("workload", "slice_factor"), "only with buckets", w.slice_factor))


def _inventory(inst: ParallelismInstance, errors: list[FieldError]) -> dict[str, int]:
    known = ", ".join(sorted(GPUS))
    names: dict[str, int] = {}
    for i, pool in enumerate(inst.inventory):
        name = pool.name or pool.gpu
        if name in names:
            where = "name" if pool.name else "gpu"
            errors.append(
                FieldError(
                    ("inventory", i, where),
                    f"duplicate pool name (also inventory[{names[name]}]); give each pool a distinct name",
                    name,
                )
            )
        names.setdefault(name, i)
        if gpu_preset(pool.gpu) is None:
            missing = [f for f in GPU_FIELDS if getattr(pool, f) is None]
            for f in missing:
                errors.append(
                    FieldError(
                        ("inventory", i, f), f"required: {pool.gpu!r} is not a preset (known: {known})"
                    )
                )
        if pool.count is None and inst.objective == "max_throughput":
            errors.append(
                FieldError(
                    ("inventory", i, "count"), "max_throughput needs a limited inventory: give a count"
                )
            )
        gpn = pool.gpus_per_node
        if inst.tp_across_nodes and gpn is not None and not is_power_of_two(gpn):
            errors.append(
                FieldError(
                    ("inventory", i, "gpus_per_node"),
                    "tp_across_nodes needs a power-of-two node size (whole-node TP groups)",
                    gpn,
                )
            )
    return names


def _candidates(inst: ParallelismInstance, pools: dict[str, int], errors: list[FieldError]) -> None:
    if inst.candidates is None:
        return
    if inst.objective == "min_latency":
        errors.append(
            FieldError(
                ("objective",),
                "min_latency needs predicted latencies; measured candidates give capacities only",
                inst.objective,
            )
        )
    buckets = inst.workload.buckets
    seen: dict[tuple[str, int, int, int, int | None], int] = {}
    for k, c in enumerate(inst.candidates):
        at = ("candidates", k)
        if c.gpu not in pools:
            errors.append(
                FieldError((*at, "gpu"), f"no pool of that name (pools: {', '.join(pools)})", c.gpu)
            )
            continue
        pool = inst.inventory[pools[c.gpu]]
        preset = gpu_preset(pool.gpu)
        gpn = pool.gpus_per_node or (preset.gpus_per_node if preset is not None else 8)
        if not is_power_of_two(c.tp):
            errors.append(FieldError((*at, "tp"), "must be a power of two (node packing assumes it)", c.tp))
        elif c.tp > gpn and not (inst.tp_across_nodes and c.tp % gpn == 0):
            errors.append(
                FieldError((*at, "tp"), f"above the pool's {gpn} GPUs per node (set tp_across_nodes)", c.tp)
            )
        if c.ep not in (1, c.tp):
            errors.append(FieldError((*at, "ep"), f"must be 1 or tp ({c.tp})", c.ep))
        caps = c.capacity_rps if isinstance(c.capacity_rps, list) else [c.capacity_rps]
        want = len(buckets) if buckets is not None else 1
        if len(caps) != want:
            what = f"{want} (one per bucket)" if buckets is not None else "1 (no buckets)"
            errors.append(FieldError((*at, "capacity_rps"), f"has {len(caps)} numbers; expected {what}"))
        elif any(x < 0 for x in caps):
            errors.append(FieldError((*at, "capacity_rps"), "must be >= 0", c.capacity_rps))
        key = (c.gpu, c.tp, c.pp, c.ep, c.max_batch)
        if key in seen:
            errors.append(FieldError(at, f"duplicate of candidates[{seen[key]}]"))
        seen.setdefault(key, k)
