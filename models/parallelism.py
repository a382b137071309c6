"""LLM parallelism plans: the request and plan contract of kind `parallelism`.

Given a model, a workload with latency targets and a GPU inventory, choose how to serve it: replica
configurations (GPU pool, tensor parallel TP, pipeline parallel PP, expert parallel EP, batch cap) and
how many replicas of each. Objectives: `min_cost` meeting the request rate and the SLOs (default),
`max_throughput` on the inventory, `min_latency` (the worst replica group's predicted request latency,
then the cost).

The model and the GPUs are preset names or explicit specs; users who measured their own capacities give
`candidates` with req/s per workload bucket, and the optimizer uses those numbers instead of the cost
model (the Mélange case). Shape and range rules live here; rules that relate several fields (unknown
presets, a model spec missing a field without a preset, bucket shares that do not add up, candidates on
unknown pools) are checked by `solver.parallelism.validate` so that their errors name the exact path.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from models.common import SolveOptions, SolveResult, StrictModel

MAX_TOKENS = 10_000_000
MAX_GPUS = 1_000_000
# The resolution of a plan's figures: the solver's integer model works in these units and the checker
# reads plans in them (rates to 1e-4 req/s, prices per GPU-hour to 1e-6, latencies to 1 us).
RATE_SCALE = 10_000
PRICE_SCALE = 1_000_000
LATENCY_SCALE = 1000  # per ms
LOAD_LEVELS = 8  # min_latency sizes each replica group at k / LOAD_LEVELS of its capacity, k = 1..8
Objective = Literal["min_cost", "max_throughput", "min_latency"]


class ModelSpec(StrictModel):
    """A transformer decoder. Give `preset` to start from a known model and override some fields
    (e.g. `weight_bytes: 1` for FP8 weights), or every architecture field without one."""

    preset: str | None = Field(
        None, description="llama-3-8b, llama-3-70b (alias llama-3.1-70b), mixtral-8x7b, qwen2.5-32b."
    )
    name: str | None = Field(None, description="Shown in plans and explanations.")
    n_layers: int | None = Field(None, ge=1, le=1000)
    hidden: int | None = Field(None, ge=1, le=1_000_000)
    heads: int | None = Field(None, ge=1, le=10_000, description="Attention (query) heads.")
    kv_heads: int | None = Field(None, ge=1, le=10_000, description="Key/value heads (GQA).")
    head_dim: int | None = Field(None, ge=1, le=10_000, description="Default: hidden / heads.")
    ffn: int | None = Field(None, ge=1, le=10_000_000, description="MLP intermediate size (per expert).")
    vocab: int | None = Field(None, ge=1, le=10_000_000)
    experts: int | None = Field(None, ge=1, le=10_000, description="MLP experts (1: dense).")
    top_k: int | None = Field(None, ge=1, le=10_000, description="Experts per token.")
    weight_bytes: float | None = Field(None, gt=0, le=8, description="Bytes per weight: 2 bf16, 1 fp8.")
    kv_bytes: float | None = Field(None, gt=0, le=8, description="Bytes per KV-cache element.")
    qkv_bias: bool | None = Field(None, description="Biases on the q, k, v projections (Qwen2).")
    tied_embeddings: bool | None = Field(None, description="Input embedding shared with the LM head.")


class Bucket(StrictModel):
    """One cell of a request-size histogram: its typical lengths and its share of the requests."""

    prompt_tokens: int = Field(ge=1, le=MAX_TOKENS)
    output_tokens: int = Field(ge=1, le=MAX_TOKENS)
    share: float = Field(gt=0, le=1, description="Fraction of the requests; the shares add up to 1.")


class Workload(StrictModel):
    rate_rps: float = Field(
        ge=0, le=1e7, description="Requests per second to serve (> 0 unless the objective is max_throughput)."
    )
    prompt_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Mean prompt length.")
    output_tokens: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Mean output length.")
    prompt_tokens_p90: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Default: the mean.")
    output_tokens_p90: int | None = Field(None, ge=1, le=MAX_TOKENS, description="Default: the mean.")
    buckets: list[Bucket] | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="A request-size histogram instead of mean/p90 lengths: each bucket's slices go to "
        "one configuration each (Mélange).",
    )
    ttft_ms: float | None = Field(None, gt=0, le=1e7, description="Time-to-first-token target.")
    tpot_ms: float | None = Field(None, gt=0, le=1e7, description="Time-per-output-token target.")
    headroom: float = Field(
        0.0, ge=0, le=10, description="Capacity kept above the rate: 0.2 sizes the plan for 1.2 x rate_rps."
    )
    slice_factor: int = Field(
        1,
        ge=1,
        le=64,
        description="With buckets: slices per bucket, each assigned whole to one configuration.",
    )


class Calibration(StrictModel):
    """Overrides of the cost model's calibration (solver/parallelism/costmodel.py), for all pools at
    the instance level or for one pool."""

    hbm_efficiency: float | None = Field(None, gt=0, le=1, description="Achieved / peak HBM bandwidth.")
    compute_efficiency: float | None = Field(None, gt=0, le=1, description="Achieved / peak dense FLOPS.")
    link_efficiency: float | None = Field(None, gt=0, le=1, description="Achieved / peak link bandwidth.")
    allreduce_latency_us: float | None = Field(None, ge=0, le=1e5, description="Collective start-up.")
    inter_node_latency_us: float | None = Field(None, ge=0, le=1e5, description="Across nodes.")
    p2p_latency_us: float | None = Field(None, ge=0, le=1e5, description="Pipeline send/recv start-up.")
    step_overhead_ms: float | None = Field(None, ge=0, le=1e4, description="Per engine step (scheduler).")
    memory_utilization: float | None = Field(None, gt=0, le=1, description="vLLM gpu_memory_utilization.")
    workspace_gib: float | None = Field(None, ge=0, le=1e4, description="Per GPU, outside weights and KV.")


class Pool(StrictModel):
    """GPUs of one type and price: a preset `gpu` name, or an explicit spec (every hardware field)."""

    name: str | None = Field(None, min_length=1, description="Default: the gpu name; unique.")
    gpu: str = Field(
        min_length=1,
        description="A100-40GB, A100-80GB, H100-SXM, H200, L4, A10G; or any name with the spec fields.",
    )
    memory_gib: float | None = Field(None, gt=0, le=1e5)
    hbm_gb_per_s: float | None = Field(None, gt=0, le=1e6, description="HBM bandwidth, GB/s.")
    dense_tflops: float | None = Field(None, gt=0, le=1e6, description="Dense bf16 TFLOPS.")
    intra_node_gb_per_s: float | None = Field(None, gt=0, le=1e6, description="Per GPU, one direction.")
    inter_node_gb_per_s: float | None = Field(None, gt=0, le=1e6, description="Per GPU, one direction.")
    gpus_per_node: int | None = Field(None, ge=1, le=1024, description="Default: the preset's (8).")
    count: int | None = Field(
        None, ge=0, le=MAX_GPUS, description="GPUs available; null: unlimited (rent as many as needed)."
    )
    cost_per_hour: float = Field(ge=0, le=1e6, description="Per GPU-hour, in your currency (to 1e-6).")
    calibration: Calibration | None = None


class Candidate(StrictModel):
    """A replica configuration measured by the user: the optimizer uses its capacities as given."""

    gpu: str = Field(min_length=1, description="The pool's name.")
    tp: int = Field(1, ge=1, le=1024)
    pp: int = Field(1, ge=1, le=1024)
    ep: int = Field(1, ge=1, le=1024)
    max_batch: int | None = Field(None, ge=1, le=1_000_000)
    capacity_rps: float | list[float] = Field(
        description="Measured req/s at the SLOs: one number per workload bucket (a number without buckets)."
    )


class ParallelismInstance(StrictModel):
    model: str | ModelSpec | None = Field(
        None,
        description="A preset name or a spec; optional when every configuration is a measured candidate.",
    )
    workload: Workload
    inventory: list[Pool] = Field(min_length=1, max_length=64)
    objective: Objective = "min_cost"
    candidates: list[Candidate] | None = Field(
        None, min_length=1, max_length=10_000, description="Measured configurations; replaces the cost model."
    )
    tp_across_nodes: bool = Field(False, description="Allow TP groups over whole nodes (inter-node link).")
    max_pp: int | None = Field(
        None, ge=1, le=1024, description="Largest PP searched; default: layers, nodes."
    )
    calibration: Calibration | None = Field(None, description="For every pool (a pool's own wins).")


class ParallelismRequest(StrictModel):
    kind: Literal["parallelism"] = "parallelism"
    instance: ParallelismInstance
    options: SolveOptions = Field(default_factory=SolveOptions)


class ReplicaGroup(BaseModel):
    """`count` identical replicas. Per-replica figures unless the name says total."""

    pool: str
    gpu: str
    count: int = Field(ge=1)
    tp: int = Field(ge=1)
    pp: int = Field(ge=1)
    ep: int = Field(1, ge=1)
    max_batch: int | None = Field(None, description="Batch cap (vLLM max_num_seqs).")
    gpus_per_replica: int = Field(ge=1)
    ttft_ms: float | None = Field(None, description="Predicted at load_rps (TTFT with the p90 prompt).")
    tpot_ms: float | None = Field(None, description="Predicted at load_rps.")
    latency_ms: float | None = Field(None, description="Predicted mean request latency at load_rps.")
    capacity_rps: float = Field(description="Req/s one replica serves within the SLOs (mixed workload).")
    load_rps: float = Field(description="Req/s the plan sizes each replica for, headroom included.")
    bucket_capacity_rps: list[float] | None = Field(None, description="Per workload bucket.")
    limited_by: list[str] | None = Field(
        None,
        description="Per workload bucket, what stops the capacity from growing: tpot or ttft (the SLO), "
        "kv (the KV cache is full), batch (the batch cap), slo (not even one request meets it).",
    )
    bucket_slices: list[int] | None = Field(None, description="Slices of each bucket served by this group.")
    weights_gib_per_gpu: float | None = Field(None, description="Largest stage's weights on one GPU.")
    kv_tokens: int | None = Field(None, description="KV-cache tokens one replica holds.")
    cost_per_hour: float = Field(description="One replica: GPUs x price per GPU-hour.")
    total_cost_per_hour: float
    measured: bool = Field(False, description="From a measured candidate, not the cost model.")


class PlanTotals(BaseModel):
    replicas: int
    gpus: int
    cost_per_hour: float
    capacity_rps: float = Field(description="Sum of the replicas' capacities (mixed workload).")
    demand_rps: float = Field(description="rate_rps x (1 + headroom).")
    utilization: float = Field(description="rate_rps / capacity_rps.")


class SloReport(BaseModel):
    ttft_ms: float | None = Field(None, description="Target.")
    tpot_ms: float | None = Field(None, description="Target.")
    worst_ttft_ms: float | None = Field(None, description="Largest predicted over the replica groups.")
    worst_tpot_ms: float | None = None
    ttft_headroom_ms: float | None = Field(None, description="Target minus the worst predicted.")
    tpot_headroom_ms: float | None = None
    capacity_headroom: float | None = Field(None, description="capacity / rate - 1.")


class ModelSummary(BaseModel):
    name: str
    parameters_b: float = Field(description="Billions of parameters.")
    weights_gib: float
    kv_kib_per_token: float = Field(description="All layers, all KV heads.")


class ParallelismPlan(BaseModel):
    replicas: list[ReplicaGroup]
    totals: PlanTotals
    slo: SloReport = Field(default_factory=SloReport)
    model: ModelSummary | None = None
    notes: list[str] = Field(default_factory=list)


class ParallelismResult(SolveResult):
    kind: Literal["parallelism"] = "parallelism"
    plan: ParallelismPlan | None = None
