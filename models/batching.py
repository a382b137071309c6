"""Batch composition for continuous-batching LLM serving: the request and plan contract of kind `batching`.

One scheduling step of an LLM server: which waiting requests join the running batch now, how many prefill
tokens each gets this step (chunked prefill), and optionally which running requests are preempted
(recomputed later). Field names follow the issue's contract; shape and range rules live here, rules that
relate several fields (duplicate ids, prefixes, generated vs max tokens) are checked by
`solver.batching.validate` so that their errors name the exact path.

Memory, in tokens of KV cache (allocated in blocks of `block_tokens`):
- this step: every request in the batch after the decision holds its tokens plus what it computes now
  (one decode token, or its prefill chunk), rounded up to whole blocks; a shared prefix held by a running
  request is stored once. This must fit `kv_capacity_tokens` (whole blocks) in every plan.
- the future (the guard): at step t from now a request holds (its tokens once prefilled) + t until it has
  generated its output; its output length is unknown, so the optimizer draws `policy.scenarios` scenarios
  of output lengths (a point prediction, or the history window conditioned on what each request has
  generated: the Past-Future method). In each scenario the peak over every future step is
  max over k of  k * b(k) + sum of held tokens of the k longest-remaining requests  (b sorted descending),
  with each request's held tokens rounded up by one block and shared prefixes counted once. In at least
  `policy.guard_share` of the scenarios the plan's peak must stay within the capacity (or, where the running
  requests alone already overflow, no higher than theirs).

Objective `score` (maximised): the value of the admitted requests (priority and TTFT deadlines), less a
penalty for each earlier arrival passed over (growing with its wait: no starvation), less the cost of
preemptions, less the expected overflow (evictions) over the scenarios. `policy` sets every weight.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from models.common import SolveOptions, SolveResult, StrictModel

MAX_TOKENS = 10**7  # per request: prompts, outputs, KV held
MAX_CAPACITY = 10**10  # KV tokens of one server
MAX_REQUESTS = 50_000  # waiting or running in one step
MAX_HISTORY = 100_000
MAX_PRIORITY = 100
MAX_TIME_S = 10.0**9

Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Id = Annotated[str, Field(min_length=1, max_length=256)]


class RunningRequest(StrictModel):
    """A request in the running batch, in admission order (the last is vLLM's first preemption victim)."""

    id: Id
    kv_tokens: Tokens = Field(description="KV cache tokens held now (its shared prefix included, if any).")
    generated_tokens: Tokens = Field(0, description="Output tokens generated so far.")
    max_new_tokens: int = Field(ge=1, le=MAX_TOKENS, description="Cap on its output tokens.")
    priority: int = Field(0, ge=0, le=MAX_PRIORITY, description="Higher is more important (weight 1 + p).")
    predicted_output_tokens: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="Point prediction of its total output length."
    )
    tpot_deadline_ms: float | None = Field(
        None, gt=0, le=10.0**6, description="Its time-per-output-token target: preempting it costs double."
    )
    prefill_remaining_tokens: Tokens = Field(
        0, description="Prompt tokens still to prefill (chunked prefill in progress); 0 when decoding."
    )
    prefix_id: str | None = Field(None, min_length=1, max_length=256, description="Shared prefix it holds.")
    prefix_tokens: Tokens = Field(0, description="Length of the shared prefix (the same for every holder).")


class WaitingRequest(StrictModel):
    id: Id
    prompt_tokens: int = Field(ge=1, le=MAX_TOKENS, description="Prompt length (shared prefix included).")
    max_new_tokens: int = Field(ge=1, le=MAX_TOKENS)
    priority: int = Field(0, ge=0, le=MAX_PRIORITY, description="Higher is more important (weight 1 + p).")
    arrival_s: float = Field(0.0, ge=0, le=MAX_TIME_S, description="Arrival time; earlier = first in FCFS.")
    predicted_output_tokens: int | None = Field(
        None, ge=1, le=MAX_TOKENS, description="Point prediction of its total output length."
    )
    ttft_deadline_s: float | None = Field(
        None, ge=0, le=MAX_TIME_S, description="Absolute time (same clock as arrival_s) of its first token."
    )
    generated_tokens: Tokens = Field(
        0, description="Output generated before a preemption: recomputed with the prompt on admission."
    )
    prefix_id: str | None = Field(None, min_length=1, max_length=256)
    prefix_tokens: Tokens = Field(
        0, description="Shared prefix length; reused when a running request holds it."
    )


class Policy(StrictModel):
    """The optimizer's knobs: the guard on future memory and the weights of the objective (in points)."""

    scenarios: int = Field(8, ge=1, le=64, description="Output-length scenarios drawn for the guard.")
    guard_share: float = Field(
        1.0,
        ge=0,
        le=1,
        description="Share of the scenarios in which the future peak must fit; 0 checks this step only.",
    )
    scenario_seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of the scenario draw.")
    allow_preempt: bool = Field(True, description="Whether the plan may preempt running requests.")
    late_value_share: float = Field(
        0.25, ge=0, le=1, description="Value of a request whose TTFT deadline has passed, as a share."
    )
    urgency_bonus: float = Field(
        0.5, ge=0, le=10, description="Extra value share for a request about to miss its TTFT deadline."
    )
    urgency_horizon_s: float = Field(
        2.0, gt=0, le=10.0**6, description="Slack below which the urgency bonus grows linearly."
    )
    skip_penalty: float = Field(
        10.0, ge=0, le=10.0**6, description="Points for each earlier arrival passed over (times its weight)."
    )
    skip_penalty_per_s: float = Field(
        20.0, ge=0, le=10.0**6, description="Extra points per second it has waited beyond skip_grace_s."
    )
    skip_grace_s: float = Field(10.0, ge=0, le=10.0**6)
    preempt_cost: float = Field(
        2.0, ge=0, le=100, description="Cost of a preemption as a share of the victim's value."
    )
    recompute_cost_per_token: float = Field(0.5, ge=0, le=10.0**3, description="Points per KV token lost.")
    eviction_cost_per_1k_tokens: int = Field(
        2000, ge=0, le=10**7, description="Points per 1,000 tokens of expected overflow."
    )
    max_candidates: int = Field(
        48, ge=1, le=MAX_REQUESTS, description="Waiting requests the exact model chooses among."
    )
    max_preempt_candidates: int = Field(8, ge=0, le=4096, description="Running requests it may preempt.")


class BatchingInstance(StrictModel):
    kv_capacity_tokens: int = Field(ge=1, le=MAX_CAPACITY, description="KV cache size in tokens.")
    block_tokens: int = Field(16, ge=1, le=4096, description="Tokens per KV block (allocation unit).")
    max_num_seqs: int = Field(256, ge=1, le=MAX_REQUESTS, description="Seats: requests in the batch.")
    token_budget: int = Field(
        8192, ge=1, le=MAX_TOKENS, description="Tokens computed per step: decodes plus prefill chunks."
    )
    now_s: float | None = Field(
        None, ge=0, le=MAX_TIME_S, description="Current time; default: the latest arrival among the waiting."
    )
    running: list[RunningRequest] = Field(default_factory=list, max_length=MAX_REQUESTS)
    waiting: list[WaitingRequest] = Field(default_factory=list, max_length=MAX_REQUESTS)
    history_output_tokens: list[Annotated[int, Field(ge=1, le=MAX_TOKENS)]] = Field(
        default_factory=list,
        max_length=MAX_HISTORY,
        description="Output lengths of recently finished requests (the Past-Future window).",
    )
    policy: Policy = Field(default_factory=Policy)


class BatchingRequest(StrictModel):
    kind: Literal["batching"] = "batching"
    instance: BatchingInstance
    options: SolveOptions = Field(default_factory=SolveOptions)


class BatchingPlan(BaseModel):
    admit: list[str] = Field(description="Waiting requests that join the batch, in admission order.")
    chunks: dict[str, int] = Field(
        description="Prefill tokens computed this step, per admitted request and running request in prefill."
    )
    preempt: list[str] = Field(default_factory=list, description="Running requests preempted (recompute).")
    kv_blocks_now: int = Field(0, description="KV blocks the batch holds after this step.")
    peak_tokens: list[int] = Field(
        default_factory=list, description="Future peak of the batch in each scenario (the guard's formula)."
    )
    breakdown: dict[str, float] = Field(
        default_factory=dict,
        description="value, skip_penalty, preempt_cost, expected_overflow_tokens, eviction_cost.",
    )


class BatchingResult(SolveResult):
    kind: Literal["batching"] = "batching"
    plan: BatchingPlan | None = None
