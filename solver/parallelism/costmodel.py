"""The analytical cost model of one LLM replica: memory, prefill, decode, and its capacity at the SLOs.

Memory
  Parameters P = L*(h*d*(a+2g) + h*d*a + 3*h*f*E) + 2*V*h (untied embeddings; a router h*E per MoE layer
  and q/k/v biases where the model has them). Per GPU: the stage's L/PP layers split TP ways, with the
  KV heads replicated when TP > g (ceil(g/TP) heads per GPU), plus the vocabulary-parallel embedding on
  the first stage and the LM head on the last (both when PP = 1). KV bytes per token = 2*L*g*d*bytes;
  per GPU 2*(L/PP)*ceil(g/TP)*d*bytes. The KV cache gets what is left of memory_utilization x memory
  after the weights and a workspace reserve.

Time (all efficiencies in `Calibration`, overridable per GPU type)
  - prefill, per stage: roofline max(FLOPs / (TP * peak * compute_eff), weights / (HBM * hbm_eff)),
    FLOPs = 2*P_active*tokens + causal attention 2*L*tokens^2*a*d, plus the tensor-parallel all-reduces;
  - decode step, per stage: max((weights read + KV read) / (HBM * hbm_eff), FLOPs / (peak * compute_eff))
    with MoE reading only the experts its tokens touch (the most loaded GPU under EP);
  - tensor parallel: two all-reduces per layer per step, alpha + 2(n-1)/n * bytes / (link * link_eff)
    (EP: one all-reduce and two all-to-alls, alpha + (n-1)/n * bytes / link);
  - pipeline: a send/recv per stage boundary; a token crosses every stage, so the time per output token
    is PP stage times (the bubble when fewer sequences than stages run) while PP micro-batches are in
    flight;
  - a fixed engine overhead per step (scheduling, sampling, launch).

Operating point (continuous batching, one replica). With N sequences decoding on average:
  x(N) = N / (N*o_pf + out*TPOT(N)) req/s, where o_pf = prefill time / PP is the time a request's prefill
  holds the replica; u = x*o_pf; TPOT_eff = TPOT(N) / (1 - u) (prefill chunks share the steps);
  TTFT = prefill(p90 prompt) + u*o_pf / (2(1 - u)) (M/D/1 wait) + TPOT(N)/2.
Everything grows with N, so the capacity at the SLOs is x at the largest N that meets TTFT, TPOT, the
batch cap and the KV cache (every running request holding its p90 prompt + p90 output).

The default calibration reproduces vLLM 0.6 decode times per output token of Llama-3.1-70B on 8xH100
measured in the APEX repository within a few percent (TP2 32.6 ms, TP4 20.1 ms, TP8 14.1 ms).
All functions broadcast over numpy arrays of configurations.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

GIB = float(2**30)
ACT_BYTES = 2.0  # bf16 activations on the wire
MAX_BATCH = 1024  # largest batch cap searched
BISECT_STEPS = 48


@dataclass(frozen=True)
class Arch:
    name: str
    n_layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    experts: int = 1
    top_k: int = 1
    weight_bytes: float = 2.0
    kv_bytes: float = 2.0
    qkv_bias: bool = False
    tied_embeddings: bool = False

    def renamed(self, name: str) -> Arch:
        return dataclasses.replace(self, name=name)

    @property
    def moe(self) -> bool:
        return self.experts > 1

    @property
    def dtype(self) -> str:
        return {2.0: "bf16", 1.0: "fp8", 0.5: "int4", 4.0: "fp32"}.get(float(self.weight_bytes), "custom")

    # parameter counts --------------------------------------------------------------------------
    @property
    def attn_params(self) -> int:
        h, d, a, g = self.hidden, self.head_dim, self.heads, self.kv_heads
        return h * d * (a + 2 * g) + h * d * a + (d * (a + 2 * g) if self.qkv_bias else 0)

    @property
    def expert_params(self) -> int:
        return 3 * self.hidden * self.ffn

    @property
    def router_params(self) -> int:
        return self.hidden * self.experts if self.moe else 0

    @property
    def layer_params(self) -> int:
        return self.attn_params + self.experts * self.expert_params + self.router_params

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def parameters(self) -> int:
        return self.n_layers * self.layer_params + self.embedding_params

    @property
    def active_layer_params(self) -> int:
        return self.attn_params + self.top_k * self.expert_params + self.router_params

    @property
    def weights_bytes(self) -> float:
        return self.weight_bytes * self.parameters

    @property
    def kv_bytes_per_token(self) -> float:
        return 2 * self.n_layers * self.kv_heads * self.head_dim * self.kv_bytes


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: float
    hbm_gb_per_s: float
    dense_tflops: float
    intra_node_gb_per_s: float
    inter_node_gb_per_s: float
    gpus_per_node: int = 8
    approximate: str = ""


@dataclass(frozen=True)
class Calibration:
    """Everything the model does not derive from datasheets. Defaults fitted to vLLM 0.6 on H100
    (APEX's measurements, see the module docstring); override per GPU type below or per request."""

    hbm_efficiency: float = 0.86
    compute_efficiency: float = 0.55
    link_efficiency: float = 0.75
    allreduce_latency_us: float = 22.0
    inter_node_latency_us: float = 40.0
    p2p_latency_us: float = 15.0
    step_overhead_ms: float = 4.5
    memory_utilization: float = 0.9
    workspace_gib: float = 1.5

    def merged(self, overrides: Any | None) -> Calibration:
        """This calibration with the non-null fields of a models.parallelism.Calibration."""
        if overrides is None:
            return self
        given = {k: v for k, v in overrides.model_dump().items() if v is not None}
        return dataclasses.replace(self, **given)


DEFAULT_CALIBRATION = Calibration()
# PCIe GPUs: collectives go through the host bridge, with a longer start-up
CALIBRATION_BY_GPU: dict[str, Calibration] = {
    "L4": dataclasses.replace(DEFAULT_CALIBRATION, allreduce_latency_us=40.0),
    "A10G": dataclasses.replace(DEFAULT_CALIBRATION, allreduce_latency_us=40.0),
}


def calibration_for(gpu_name: str) -> Calibration:
    return CALIBRATION_BY_GPU.get(gpu_name, DEFAULT_CALIBRATION)


# memory ------------------------------------------------------------------------------------------


def layer_weight_bytes_per_gpu(arch: Arch, tp: Any, pp: Any) -> Any:
    """The decoder layers of one stage on one GPU (KV projections replicated when TP > kv_heads)."""
    h, d, a, g = arch.hidden, arch.head_dim, arch.heads, arch.kv_heads
    tp = np.asarray(tp, dtype=np.float64)
    kv_heads = np.ceil(g / tp)
    attn = 2 * h * d * a / tp + 2 * h * d * kv_heads + (d * (a / tp + 2 * kv_heads) if arch.qkv_bias else 0)
    per_layer = attn + arch.experts * arch.expert_params / tp + arch.router_params
    return arch.weight_bytes * (arch.n_layers / np.asarray(pp, dtype=np.float64)) * per_layer


def embedding_bytes_per_gpu(arch: Arch, tp: Any, pp: Any) -> Any:
    """Vocabulary-parallel embedding (first stage) and LM head (last stage) on the stage that has most."""
    one = arch.weight_bytes * arch.vocab * arch.hidden / np.asarray(tp, dtype=np.float64)
    both = np.where(np.asarray(pp) == 1, 1 if arch.tied_embeddings else 2, 1)
    return one * both


def weight_bytes_per_gpu(arch: Arch, tp: Any, pp: Any) -> Any:
    return layer_weight_bytes_per_gpu(arch, tp, pp) + embedding_bytes_per_gpu(arch, tp, pp)


def kv_bytes_per_token_per_gpu(arch: Arch, tp: Any, pp: Any) -> Any:
    tp = np.asarray(tp, dtype=np.float64)
    return (
        2
        * (arch.n_layers / np.asarray(pp, dtype=np.float64))
        * np.ceil(arch.kv_heads / tp)
        * (arch.head_dim * arch.kv_bytes)
    )


def reserve_bytes(arch: Arch, tp: Any, cal_workspace_gib: Any, chunk_tokens: int = 2048) -> Any:
    """Workspace outside weights and KV: a fixed part (CUDA graphs, NCCL, allocator) plus the
    activations of one prefill chunk."""
    act = chunk_tokens * (4 * arch.hidden + 2 * arch.top_k * arch.ffn / np.asarray(tp, dtype=np.float64))
    return np.asarray(cal_workspace_gib) * GIB + act * ACT_BYTES


def free_kv_bytes(arch: Arch, memory_gib: Any, utilization: Any, workspace_gib: Any, tp: Any, pp: Any) -> Any:
    usable = np.asarray(memory_gib) * GIB * np.asarray(utilization)
    return usable - weight_bytes_per_gpu(arch, tp, pp) - reserve_bytes(arch, tp, workspace_gib)


def kv_tokens(arch: Arch, memory_gib: Any, utilization: Any, workspace_gib: Any, tp: Any, pp: Any) -> Any:
    free = free_kv_bytes(arch, memory_gib, utilization, workspace_gib, tp, pp)
    return np.floor(np.maximum(free, 0.0) / kv_bytes_per_token_per_gpu(arch, tp, pp)).astype(np.int64)


# time --------------------------------------------------------------------------------------------


@dataclass
class Hardware:
    """Per-configuration arrays (all the same shape) of what the timing formulas read."""

    tp: np.ndarray
    pp: np.ndarray
    ep: np.ndarray
    hbm: np.ndarray  # bytes/s, efficiency applied
    flops: np.ndarray  # FLOP/s per GPU, efficiency applied
    tp_bw: np.ndarray  # bytes/s of the link TP collectives use, efficiency applied
    tp_alpha: np.ndarray  # s
    pp_bw: np.ndarray
    pp_alpha: np.ndarray
    overhead: np.ndarray  # s per engine step

    def subset(self, idx: Any) -> Hardware:
        return Hardware(**{f.name: getattr(self, f.name)[idx] for f in dataclasses.fields(self)})

    @classmethod
    def build(
        cls,
        gpus: list[Gpu],
        cals: list[Calibration],
        tp: list[int],
        pp: list[int],
        ep: list[int],
        tp_in_node: list[bool],
        pp_in_node: list[bool],
    ) -> Hardware:
        def arr(values: list[float]) -> np.ndarray:
            return np.asarray(values, dtype=np.float64)

        def link(in_node: list[bool], alpha_in_node: str) -> tuple[np.ndarray, np.ndarray]:
            """Bandwidth (efficiency applied) and start-up of the link a collective uses: NVLink
            within a node, the network across nodes."""
            rows = list(zip(gpus, cals, in_node, strict=True))
            gb_per_s = [g.intra_node_gb_per_s if inn else g.inter_node_gb_per_s for g, _, inn in rows]
            us = [getattr(c, alpha_in_node) if inn else c.inter_node_latency_us for _, c, inn in rows]
            bw = [x * 1e9 * c.link_efficiency for x, (_, c, _) in zip(gb_per_s, rows, strict=True)]
            return arr(bw), arr([x * 1e-6 for x in us])

        tp_bw, tp_alpha = link(tp_in_node, "allreduce_latency_us")
        pp_bw, pp_alpha = link(pp_in_node, "p2p_latency_us")
        return cls(
            tp=arr([float(x) for x in tp]),
            pp=arr([float(x) for x in pp]),
            ep=arr([float(x) for x in ep]),
            hbm=arr([g.hbm_gb_per_s * 1e9 * c.hbm_efficiency for g, c in zip(gpus, cals, strict=True)]),
            flops=arr(
                [g.dense_tflops * 1e12 * c.compute_efficiency for g, c in zip(gpus, cals, strict=True)]
            ),
            tp_bw=tp_bw,
            tp_alpha=tp_alpha,
            pp_bw=pp_bw,
            pp_alpha=pp_alpha,
            overhead=arr([c.step_overhead_ms * 1e-3 for c in cals]),
        )


def _experts_read(arch: Arch, hw: Hardware, tokens: np.ndarray) -> np.ndarray:
    """Expert weights (in units of one expert's parameters) the slowest GPU of a stage reads per layer
    for a step of `tokens` tokens."""
    if not arch.moe:
        return 1.0 / hw.tp
    e, k = float(arch.experts), float(arch.top_k)
    miss = 1.0 - k / e
    # chance an expert gets one of the tokens; scalar libm calls, so that a configuration's figures do
    # not depend on which others it is evaluated with (numpy's vectorised pow/log may differ by an ulp)
    touched = 1.0 - _elementwise(lambda m: math.pow(miss, max(m, 0.0)), tokens)
    tp_mode = e * touched / hw.tp  # every GPU reads its 1/TP slice of every touched expert
    owned = e / hw.ep
    mean = owned * touched
    tail = _elementwise(lambda n: math.sqrt(2.0 * math.log(max(n, 1.0))), hw.ep)
    spread = np.sqrt(owned * touched * (1.0 - touched)) * tail
    ep_mode = np.minimum(owned, mean + spread)  # the GPU owning the most touched experts
    return np.where(hw.ep > 1, ep_mode, tp_mode)


def _elementwise(fn: Any, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return np.array([fn(float(x)) for x in arr.ravel()], dtype=np.float64).reshape(arr.shape)


def _collectives(arch: Arch, hw: Hardware, tokens: np.ndarray) -> np.ndarray:
    """Per-layer communication time of one step of `tokens` tokens."""
    n = hw.tp
    msg = tokens * arch.hidden * ACT_BYTES
    allreduce = hw.tp_alpha + 2.0 * (n - 1.0) / n * msg / hw.tp_bw
    alltoall = hw.tp_alpha + (n - 1.0) / n * msg * arch.top_k / hw.tp_bw
    per_layer = np.where(hw.ep > 1, allreduce + 2.0 * alltoall, 2.0 * allreduce)
    return np.where(n > 1, per_layer, 0.0)


def _stage_time(
    arch: Arch, hw: Hardware, tokens: np.ndarray, attn_flops: np.ndarray, kv_read: np.ndarray, logits: Any
) -> Any:
    """The slowest (last) stage of one step: `tokens` through its layers, `logits` tokens through the
    LM head."""
    layers = arch.n_layers / hw.pp
    h, d = arch.hidden, arch.head_dim
    kvh = np.ceil(arch.kv_heads / hw.tp)
    attn = 2 * h * d * arch.heads / hw.tp + 2 * h * d * kvh
    dense = layers * (attn + arch.router_params) + arch.vocab * h / hw.tp  # LM head on the last stage
    weights = arch.weight_bytes * (dense + layers * _experts_read(arch, hw, tokens) * arch.expert_params)
    mem = (weights + kv_read) / hw.hbm
    matmul = 2.0 * (tokens * layers * arch.active_layer_params + logits * arch.vocab * h) / hw.tp
    compute = (matmul + attn_flops) / hw.flops
    return np.maximum(mem, compute) + layers * _collectives(arch, hw, tokens)


def decode_tpot_s(arch: Arch, hw: Hardware, n_seqs: Any, context: Any) -> np.ndarray:
    """Time per output token with n_seqs sequences decoding at mean context `context` (no prefills)."""
    n = np.asarray(n_seqs, dtype=np.float64)
    micro = np.maximum(n / hw.pp, 1.0)  # sequences per micro-batch; fewer than PP leaves stages idle
    layers = arch.n_layers / hw.pp
    kv_tok = kv_bytes_per_token_per_gpu(arch, hw.tp, hw.pp)
    kv_read = micro * context * kv_tok
    attn_flops = 4.0 * micro * context * arch.heads * arch.head_dim * layers / hw.tp
    stage = _stage_time(arch, hw, micro, attn_flops, kv_read, micro)
    send = np.where(
        hw.pp > 1, (hw.pp - 1.0) * (hw.pp_alpha + micro * arch.hidden * ACT_BYTES / hw.pp_bw), 0.0
    )
    return hw.pp * stage + send + hw.overhead


def prefill_s(arch: Arch, hw: Hardware, tokens: Any) -> np.ndarray:
    """Time to prefill one prompt of `tokens` tokens alone (the first token included)."""
    n = np.broadcast_to(np.asarray(tokens, dtype=np.float64), hw.tp.shape).copy()
    layers = arch.n_layers / hw.pp
    attn_flops = 2.0 * layers * n * n * arch.heads * arch.head_dim / hw.tp
    stage = _stage_time(arch, hw, n, attn_flops, np.zeros_like(n), 1.0)  # logits of the last token only
    send = np.where(hw.pp > 1, (hw.pp - 1.0) * (hw.pp_alpha + n * arch.hidden * ACT_BYTES / hw.pp_bw), 0.0)
    return hw.pp * stage + send + hw.overhead


@dataclass(frozen=True)
class Lengths:
    """Request lengths in tokens: numbers, or arrays (one per configuration) to evaluate several
    workload buckets in one pass."""

    prompt: Any
    output: Any
    prompt_p90: Any
    output_p90: Any

    @staticmethod
    def stack(items: list[Lengths]) -> Lengths:
        def arr(name: str) -> np.ndarray:
            return np.array([float(getattr(x, name)) for x in items], dtype=np.float64)

        return Lengths(arr("prompt"), arr("output"), arr("prompt_p90"), arr("output_p90"))

    @property
    def context(self) -> Any:
        """Mean KV context while decoding."""
        return self.prompt + self.output / 2.0

    @property
    def reserved(self) -> Any:
        """KV tokens a running request may come to hold."""
        return self.prompt_p90 + self.output_p90


@dataclass(frozen=True)
class Slo:
    ttft_s: float | None
    tpot_s: float | None


@dataclass
class Curve:
    """The operating curve of a set of configurations on one workload bucket (arrays over configs)."""

    arch: Arch
    hw: Hardware
    lengths: Lengths
    occupancy: np.ndarray  # s of replica time a mean prompt's prefill holds
    ttft_base: np.ndarray  # prefill time of the p90 prompt
    ttft_mean_base: np.ndarray  # prefill time of the mean prompt
    kv_limit: np.ndarray  # sequences the KV cache holds at p90 lengths

    def at(self, n: np.ndarray) -> dict[str, np.ndarray]:
        tpot0 = decode_tpot_s(self.arch, self.hw, n, self.lengths.context)
        x = n / (n * self.occupancy + self.lengths.output * tpot0)
        u = np.minimum(x * self.occupancy, 1.0 - 1e-12)
        wait = u * self.occupancy / (2.0 * (1.0 - u))
        tpot = tpot0 / (1.0 - u)
        ttft = self.ttft_base + wait + 0.5 * tpot0
        ttft_mean = self.ttft_mean_base + wait + 0.5 * tpot0
        latency = ttft_mean + (self.lengths.output - 1.0) * tpot
        return {"rate": x, "tpot": tpot, "ttft": ttft, "latency": latency}


def curve(arch: Arch, hw: Hardware, lengths: Lengths, kv_tok: np.ndarray) -> Curve:
    t_mean = prefill_s(arch, hw, lengths.prompt)
    t_p90 = prefill_s(arch, hw, lengths.prompt_p90)
    return Curve(
        arch,
        hw,
        lengths,
        occupancy=t_mean / hw.pp,
        ttft_base=t_p90,
        ttft_mean_base=t_mean,
        kv_limit=np.floor(np.asarray(kv_tok, dtype=np.float64) / lengths.reserved),
    )


@dataclass
class Capacity:
    rate: np.ndarray  # req/s at the SLOs (0: cannot meet them)
    batch_cap: np.ndarray  # smallest power-of-two cap (or the KV limit) that does not bind
    binding: list[str]  # what stops the rate from growing: tpot, ttft, kv, batch


def _feasible(point: dict[str, np.ndarray], slo: Slo) -> np.ndarray:
    ok = np.ones_like(point["rate"], dtype=bool)
    if slo.tpot_s is not None:
        ok &= point["tpot"] <= slo.tpot_s
    if slo.ttft_s is not None:
        ok &= point["ttft"] <= slo.ttft_s
    return ok


def capacity(c: Curve, slo: Slo, max_batch: Any = None) -> Capacity:
    """The largest rate each configuration serves within the SLOs, its batch cap, and what binds.

    The SLO boundary is searched on the same interval whatever the cap, so that recomputing a plan's
    capacity at its batch cap (the checker does) gives the same number."""
    limit = np.minimum(c.kv_limit, float(MAX_BATCH))
    cap_seq = limit if max_batch is None else np.minimum(limit, np.asarray(max_batch, dtype=np.float64))
    tiny = np.full_like(cap_seq, 1e-9)
    top = np.full_like(cap_seq, float(MAX_BATCH))
    possible = _feasible(c.at(tiny), slo) & (cap_seq >= 1.0)
    top_ok = _feasible(c.at(top), slo)
    lo, hi = tiny.copy(), top.copy()
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        ok = _feasible(c.at(mid), slo)
        lo = np.where(ok, mid, lo)
        hi = np.where(ok, hi, mid)
    n_slo = np.where(top_ok, top, lo)
    n = np.where(possible, np.minimum(n_slo, cap_seq), 0.0)
    rate = np.where(possible, c.at(np.maximum(n, 1e-9))["rate"], 0.0)
    if max_batch is None:
        powers = 2.0 ** np.ceil(np.log2(np.maximum(n, 1.0)))
        batch = np.where(powers <= limit, powers, np.floor(limit)).astype(np.int64)
    else:
        batch = (np.asarray(max_batch, dtype=np.int64) * np.ones_like(n)).astype(np.int64)
    binding = []
    for i in range(len(n)):
        if cap_seq[i] < 1.0:
            binding.append("kv")
        elif not possible[i]:
            binding.append("slo")
        elif n_slo[i] >= cap_seq[i]:
            binding.append("kv" if c.kv_limit[i] <= cap_seq[i] else "batch")
        elif slo.tpot_s is not None and c.at(n_slo[i : i + 1] * (1 + 1e-6) + 1e-9)["tpot"][0] > slo.tpot_s:
            binding.append("tpot")
        else:
            binding.append("ttft")
    return Capacity(rate, batch, binding)


def at_rate(c: Curve, rate: Any) -> dict[str, np.ndarray]:
    """TTFT, TPOT and latency of each configuration carrying `rate` req/s (at most its capacity)."""
    target = np.asarray(rate, dtype=np.float64) * np.ones_like(c.occupancy)
    lo = np.full_like(target, 1e-9)
    hi = np.full_like(target, float(MAX_BATCH))
    for _ in range(BISECT_STEPS):
        mid = 0.5 * (lo + hi)
        below = c.at(mid)["rate"] < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return c.at(hi)


def fmt_gib(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.3g}"


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def divisors(n: int) -> list[int]:
    out = [k for k in range(1, math.isqrt(n) + 1) if n % k == 0]
    return sorted(set(out + [n // k for k in out]))
