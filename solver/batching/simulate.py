"""A trace-driven continuous-batching simulator: replay arrivals through an engine model, let a policy compose
the batch at every step, and measure goodput.

Engine model (defaults: a Llama-3-8B-class model on one H100, all overridable in EngineConfig):
  - a step computes one token for every decoding request and the prefill chunks the policy gives;
    its time is base + prefill tokens x per-token + decoding requests x per-sequence + KV tokens read by
    the decoders x per-KV-token (weights read once per step, attention reading each sequence's KV);
  - the KV cache holds kv_capacity_tokens in blocks of block_tokens; a request holds its computed tokens;
  - preemption drops a request's KV: it goes back to the queue and recomputes its prompt and what it had
    generated when admitted again (recompute, as vLLM). It is an eviction when the batch no longer fits
    the step (vLLM's preempt-on-overflow; any policy must then preempt), a planned preemption otherwise;
  - true output lengths come from the trace and are hidden from the policy: the policy sees what each
    request has generated, its max_new_tokens, and a window of the output lengths of finished requests
    (or, with `predictions="oracle"`, the true lengths as predictions).

Every step the policy gets a BatchingInstance (the same contract as solve()) and returns a BatchingPlan;
with `verify=True` the family's checker passes every plan before it is applied, and the simulator checks
that the cache never holds more blocks than it has. A step with nothing to decide (no request waiting,
and the running batch fits) applies the status quo without calling the policy.

Metrics: throughput and goodput (completed requests per second, and those meeting both their TTFT and
TPOT SLOs), p50/p99 TTFT and TPOT, evictions and planned preemptions, mean KV utilisation, and the policy's
decision time per step (p50/p99/max).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from models.batching import BatchingInstance, BatchingPlan, Policy, RunningRequest, WaitingRequest
from models.common import EngineName, SolveOptions
from solver.batching import FAMILY
from solver.batching.generate import MAX_NEW_TOKENS, Trace, azure_trace
from solver.batching.heuristic import HEURISTICS
from solver.batching.plans import to_plan
from solver.engine import portfolio

HISTORY_WINDOW = 200  # finished output lengths the policy sees (LightLLM's Past-Future window)


@dataclass(frozen=True)
class EngineConfig:
    """Llama-3-8B (GQA: 8 KV heads x 128 x 32 layers x 2 x bf16 = 128 KiB of KV per token) on one H100:
    ~5 ms to read the weights at ~3 TB/s, ~25k prefill tokens/s, 40 ns per KV token read."""

    kv_capacity_tokens: int = 120_000
    block_tokens: int = 16
    max_num_seqs: int = 256
    token_budget: int = 8192
    base_ms: float = 6.0
    prefill_ms_per_token: float = 0.04
    decode_ms_per_seq: float = 0.03
    attention_ms_per_kv_token: float = 4.0e-5

    def step_ms(self, prefill_tokens: int, decoders: int, kv_read: int) -> float:
        return (
            self.base_ms
            + self.prefill_ms_per_token * prefill_tokens
            + self.decode_ms_per_seq * decoders
            + self.attention_ms_per_kv_token * kv_read
        )


@dataclass(frozen=True)
class SLO:
    ttft_s: float = 2.0
    tpot_s: float = 0.1


class Decider(Protocol):
    name: str

    def decide(self, inst: BatchingInstance) -> BatchingPlan: ...

    def instance_policy(self, seed: int) -> Policy: ...


class HeuristicPolicy:
    """One of the family's heuristics, through the same functions solve() runs (prepare, the algorithm,
    to_plan). The baselines get an instance without the future guard: only this step must fit."""

    def __init__(self, name: str, policy: Policy | None = None):
        if name not in HEURISTICS:
            raise ValueError(f"unknown heuristic {name!r} (known: {', '.join(HEURISTICS)})")
        self.name = name
        self.algorithm = HEURISTICS[name]
        self.policy = policy or (Policy() if name == "guarded-greedy" else Policy(guard_share=0.0))

    def instance_policy(self, seed: int) -> Policy:
        return self.policy.model_copy(update={"scenario_seed": seed})

    def decide(self, inst: BatchingInstance) -> BatchingPlan:
        problem = FAMILY.prepare(inst)
        return to_plan(problem, self.algorithm(problem, None))


class PortfolioPolicy:
    """Ours: the portfolio solve() runs (heuristics, checks, the exact engine within the per-step budget,
    the best checked plan), on the instance, without parsing JSON."""

    def __init__(
        self, engine: str, time_limit_s: float = 0.02, policy: Policy | None = None, workers: int = 1
    ):
        self.name = f"ours-{engine}"
        self.options = SolveOptions(
            time_limit_s=time_limit_s, engine=EngineName(engine), workers=workers, seed=0
        )
        self.policy = policy or Policy()
        self.statuses: dict[str, int] = {}

    def instance_policy(self, seed: int) -> Policy:
        return self.policy.model_copy(update={"scenario_seed": seed})

    def decide(self, inst: BatchingInstance) -> BatchingPlan:
        result = portfolio.run(FAMILY, inst, self.options)
        key = f"{result.status.value}:{result.engine}"
        self.statuses[key] = self.statuses.get(key, 0) + 1
        if result.plan is None:
            raise RuntimeError(f"{self.name}: no plan ({result.status}): {result.warnings[:3]}")
        return result.plan  # type: ignore[no-any-return]


@dataclass
class _Req:
    id: str
    arrival: float
    prompt: int
    output: int  # true length, hidden from the policy
    generated: int = 0
    kv: int = 0
    pending: int = 0  # prefill tokens left
    first_token: float | None = None
    finish: float | None = None
    preemptions: int = 0
    model: RunningRequest | WaitingRequest | None = None


@dataclass
class Metrics:
    policy: str
    load: float
    requests: int
    duration_s: float
    throughput_rps: float
    goodput_rps: float
    slo_attainment: float
    ttft_p50_s: float
    ttft_p99_s: float
    tpot_p50_s: float
    tpot_p99_s: float
    evictions: int  # preemptions forced by memory: the batch did not fit the step without them
    preemptions: int  # preemptions a policy chose although the batch fitted the step
    kv_utilisation: float
    steps: int
    decisions: int
    decision_p50_ms: float
    decision_p99_ms: float
    decision_max_ms: float
    notes: list[str] = field(default_factory=list)


def trace_requests(trace: Trace, count: int, load: float, start: int = 0) -> list[_Req]:
    """`count` requests from position `start`, inter-arrival times divided by `load` (load 2: twice the
    trace's rate)."""
    end = min(len(trace), start + count)
    t0 = float(trace.arrival_s[start])
    out = []
    for k in range(start, end):
        out.append(
            _Req(
                id=f"q{k}",
                arrival=(float(trace.arrival_s[k]) - t0) / load,
                prompt=int(trace.prompt[k]),
                output=min(int(trace.output[k]), MAX_NEW_TOKENS),
            )
        )
    return out


class Simulator:
    def __init__(
        self,
        requests: list[_Req],
        decider: Decider,
        engine: EngineConfig | None = None,
        slo: SLO | None = None,
        seed: int = 0,
        predictions: Literal["none", "oracle"] = "none",
        decision_time: Literal["none", "overlap", "serial"] = "none",
        verify: bool = True,
        max_steps: int = 2_000_000,
        on_step: Callable[[Simulator], None] | None = None,
    ):
        self.reqs = sorted(requests, key=lambda r: r.arrival)
        self.decider = decider
        self.engine = engine or EngineConfig()
        self.slo = slo or SLO()
        self.seed = seed
        self.predictions = predictions
        self.decision_time = decision_time
        self.verify = verify
        self.max_steps = max_steps
        self.on_step = on_step
        self.clock = 0.0
        self.running: list[_Req] = []
        self.waiting: list[_Req] = []
        self.history: list[int] = []
        self.evictions = 0
        self.preemptions = 0
        self.steps = 0
        self.decision_ms: list[float] = []
        self.util_time = 0.0
        self.busy_time = 0.0
        self.max_blocks_seen = 0
        self.notes: list[str] = []

    # --- the instance the policy sees -------------------------------------------------------------
    def _running_model(self, r: _Req) -> RunningRequest:
        m = RunningRequest.model_construct(
            id=r.id,
            kv_tokens=r.kv,
            generated_tokens=r.generated,
            max_new_tokens=MAX_NEW_TOKENS,
            priority=0,
            predicted_output_tokens=r.output if self.predictions == "oracle" else None,
            tpot_deadline_ms=None,
            prefill_remaining_tokens=r.pending,
            prefix_id=None,
            prefix_tokens=0,
        )
        return m

    def _waiting_model(self, r: _Req) -> WaitingRequest:
        return WaitingRequest.model_construct(
            id=r.id,
            prompt_tokens=r.prompt,
            max_new_tokens=MAX_NEW_TOKENS,
            priority=0,
            arrival_s=r.arrival,
            predicted_output_tokens=r.output if self.predictions == "oracle" else None,
            ttft_deadline_s=r.arrival + self.slo.ttft_s,
            generated_tokens=r.generated,
            prefix_id=None,
            prefix_tokens=0,
        )

    def instance(self) -> BatchingInstance:
        e = self.engine
        running = []
        for r in self.running:
            m = r.model
            if isinstance(m, RunningRequest):  # update in place: cheaper than a new model every step
                m.kv_tokens, m.generated_tokens, m.prefill_remaining_tokens = r.kv, r.generated, r.pending
            else:
                m = r.model = self._running_model(r)
            running.append(m)
        waiting = []
        for r in self.waiting:
            if not isinstance(r.model, WaitingRequest):
                r.model = self._waiting_model(r)
            waiting.append(r.model)
        return BatchingInstance.model_construct(
            kv_capacity_tokens=e.kv_capacity_tokens,
            block_tokens=e.block_tokens,
            max_num_seqs=e.max_num_seqs,
            token_budget=e.token_budget,
            now_s=self.clock,
            running=running,
            waiting=waiting,
            history_output_tokens=self.history[-HISTORY_WINDOW:],
            policy=self.decider.instance_policy((self.seed * 1_000_003 + self.steps) % (2**31 - 1)),
        )

    # --- the engine ----------------------------------------------------------------------------
    def _blocks(self, tokens: int) -> int:
        return -(-tokens // self.engine.block_tokens)

    def _fits_now(self) -> bool:
        e = self.engine
        decodes = sum(1 for r in self.running if r.pending == 0)
        if len(self.running) > e.max_num_seqs or decodes > e.token_budget:
            return False
        left = e.token_budget - decodes
        blocks = 0
        for r in self.running:
            step = 1
            if r.pending:
                step = min(r.pending, max(0, left))
                left -= step
            blocks += self._blocks(r.kv + step)
        return blocks <= e.kv_capacity_tokens // e.block_tokens

    def _needs_decision(self) -> bool:
        e = self.engine
        if not self._fits_now():
            return True
        if not self.waiting or len(self.running) >= e.max_num_seqs:
            return False
        decodes = sum(1 for r in self.running if r.pending == 0)
        left = e.token_budget - decodes - sum(r.pending for r in self.running if r.pending)
        return left > 0

    def _status_quo(self) -> BatchingPlan:
        e = self.engine
        left = e.token_budget - sum(1 for r in self.running if r.pending == 0)
        chunks = {}
        for r in self.running:
            if r.pending:
                c = max(0, min(r.pending, left))
                left -= c
                if c:
                    chunks[r.id] = c
        return BatchingPlan.model_construct(
            admit=[], chunks=chunks, preempt=[], kv_blocks_now=0, peak_tokens=[]
        )

    def run(self) -> Metrics:
        arrivals = 0
        n = len(self.reqs)
        done = 0
        by_id: dict[str, _Req] = {r.id: r for r in self.reqs}
        while done < n:
            if self.steps >= self.max_steps:
                self.notes.append(f"stopped after {self.max_steps} steps with {n - done} requests unfinished")
                break
            while arrivals < n and self.reqs[arrivals].arrival <= self.clock:
                self.waiting.append(self.reqs[arrivals])
                arrivals += 1
            if not self.running and not self.waiting:
                self.clock = self.reqs[arrivals].arrival
                continue
            decision_s = 0.0
            forced = not self._fits_now()
            if forced or self._needs_decision():
                inst = self.instance()
                t0 = time.perf_counter()
                plan = self.decider.decide(inst)
                decision_s = time.perf_counter() - t0
                self.decision_ms.append(1000.0 * decision_s)
                if self.verify:
                    report = FAMILY.check(inst, plan)
                    if not report.ok:
                        raise AssertionError(
                            f"{self.decider.name} step {self.steps}: {report.violations[:3]}"
                        )
            else:
                plan = self._status_quo()
            done += self._apply(plan, by_id, decision_s, forced)
            self.steps += 1
            if self.on_step is not None:
                self.on_step(self)
        return self._metrics()

    def _apply(self, plan: BatchingPlan, by_id: dict[str, _Req], decision_s: float, forced: bool) -> int:
        e = self.engine
        for rid in plan.preempt:
            r = by_id[rid]
            self.running.remove(r)
            r.kv, r.pending, r.preemptions = 0, r.prompt + r.generated, r.preemptions + 1
            r.model = None
            if forced:
                self.evictions += 1
            else:
                self.preemptions += 1
            self.waiting.append(r)
        if plan.preempt:
            self.waiting.sort(key=lambda q: q.arrival)
        admitted = set(plan.admit)
        if admitted:
            self.waiting = [r for r in self.waiting if r.id not in admitted]
            for rid in plan.admit:
                r = by_id[rid]
                r.kv, r.pending, r.model = 0, r.prompt + r.generated, None
                self.running.append(r)
        prefill = 0
        decoders: list[_Req] = []
        completing: list[_Req] = []
        for r in self.running:
            if r.pending:
                c = plan.chunks.get(r.id, 0)
                if c:
                    r.kv += c
                    r.pending -= c
                    prefill += c
                    if r.pending == 0:
                        completing.append(r)
            else:
                decoders.append(r)
        kv_read = sum(r.kv for r in decoders)
        for r in decoders:
            r.kv += 1
        blocks = sum(self._blocks(r.kv) for r in self.running)
        cap_blocks = e.kv_capacity_tokens // e.block_tokens
        if blocks > cap_blocks:
            raise AssertionError(f"step {self.steps}: {blocks} KV blocks in use, the cache has {cap_blocks}")
        step_s = e.step_ms(prefill, len(decoders), kv_read) / 1000.0
        if self.decision_time == "serial":
            step_s += decision_s
        elif self.decision_time == "overlap":
            step_s = max(step_s, decision_s)
        self.util_time += step_s * blocks / cap_blocks
        self.busy_time += step_s
        self.clock += step_s
        finished = 0
        for r in [*decoders, *completing]:
            r.generated += 1
            if r.first_token is None:
                r.first_token = self.clock
            if r.generated >= r.output:
                r.finish = self.clock
                self.running.remove(r)
                self.history.append(r.output)
                finished += 1
        return finished

    def _metrics(self) -> Metrics:
        done = [
            (r, r.finish, r.first_token)
            for r in self.reqs
            if r.finish is not None and r.first_token is not None
        ]
        start = self.reqs[0].arrival if self.reqs else 0.0
        duration = max((finish for _, finish, _ in done), default=start) - start
        ttft = np.array([first - r.arrival for r, _, first in done])
        tpot = np.array(
            [(finish - first) / (r.output - 1) if r.output > 1 else 0.0 for r, finish, first in done]
        )
        good = (
            int(np.count_nonzero((ttft <= self.slo.ttft_s) & (tpot <= self.slo.tpot_s))) if len(done) else 0
        )
        dm = np.array(self.decision_ms) if self.decision_ms else np.zeros(1)

        def pct(a: np.ndarray, q: float) -> float:
            return float(np.percentile(a, q)) if len(a) else math.nan

        return Metrics(
            policy=self.decider.name,
            load=0.0,
            requests=len(self.reqs),
            duration_s=float(duration),
            throughput_rps=len(done) / duration if duration > 0 else 0.0,
            goodput_rps=good / duration if duration > 0 else 0.0,
            slo_attainment=good / len(self.reqs) if self.reqs else 0.0,
            ttft_p50_s=pct(ttft, 50),
            ttft_p99_s=pct(ttft, 99),
            tpot_p50_s=pct(tpot, 50),
            tpot_p99_s=pct(tpot, 99),
            evictions=self.evictions,
            preemptions=self.preemptions,
            kv_utilisation=self.util_time / self.busy_time if self.busy_time else 0.0,
            steps=self.steps,
            decisions=len(self.decision_ms),
            decision_p50_ms=float(np.percentile(dm, 50)),
            decision_p99_ms=float(np.percentile(dm, 99)),
            decision_max_ms=float(dm.max()),
            notes=self.notes,
        )


POLICIES = ("vllm-v1-fcfs", "lightllm-conservative", "past-future", "ours-cpsat", "ours-ilp")


def make_policy(name: str, time_limit_s: float = 0.02, policy: Policy | None = None) -> Decider:
    """The five policies of the comparison (and ours-heuristic: the guarded greedy alone)."""
    if name.startswith("ours-"):
        engine = name.removeprefix("ours-")
        if engine == "heuristic":
            return HeuristicPolicy("guarded-greedy", policy)
        return PortfolioPolicy(engine, time_limit_s, policy)
    return HeuristicPolicy(name, policy)


def simulate(
    policy: str | Decider,
    load: float,
    requests: int = 600,
    start: int = 0,
    seed: int = 0,
    engine: EngineConfig | None = None,
    slo: SLO | None = None,
    time_limit_s: float = 0.02,
    **kwargs: object,
) -> Metrics:
    """Replay `requests` trace requests from `start` at `load` times the trace's arrival rate."""
    decider = make_policy(policy, time_limit_s) if isinstance(policy, str) else policy
    reqs = trace_requests(azure_trace(), requests, load, start)
    sim = Simulator(reqs, decider, engine, slo, seed, **kwargs)  # type: ignore[arg-type]
    m = sim.run()
    m.load = load
    if isinstance(decider, PortfolioPolicy):
        m.notes.append("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(decider.statuses.items())))
    return m
