"""Seeded batching steps, and the Azure LLM inference trace (2023, conversation) they are drawn from.

The trace (../shared/data/azure_llm_2023, Patel et al., "Splitwise", ISCA 2024, CC-BY 4.0): arrival times,
prompt lengths and true output lengths of 19,366 requests over ~3,500 s. A step snapshot takes a stretch
of it: `running` requests part-way through their output (their true lengths hidden, only what they have
generated shows), the next `waiting` arrivals with TTFT deadlines, and a history window of the output
lengths of requests that finished before (the Past-Future input).
"""

from __future__ import annotations

import csv
import datetime
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.batching import BatchingInstance, Policy, RunningRequest, WaitingRequest

TRACE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "azure_llm_2023"
    / "AzureLLMInferenceTrace_conv.csv"
)
MAX_NEW_TOKENS = 1024  # above the trace's longest output (1,000)
TTFT_SLO_S = 2.0


@dataclass(frozen=True)
class Trace:
    arrival_s: np.ndarray  # seconds since the first request
    prompt: np.ndarray
    output: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_s)


@functools.lru_cache(maxsize=2)
def azure_trace(path: str | None = None) -> Trace:
    """The conversation trace, arrival times in seconds from the first request (rows sorted by time)."""
    file = Path(path) if path else TRACE
    if not file.exists():
        raise FileNotFoundError(f"the Azure trace is not at {file} (see ../shared/data/azure_llm_2023)")
    times: list[float] = []
    prompt: list[int] = []
    output: list[int] = []
    with file.open(newline="") as f:
        for row in csv.DictReader(f):
            stamp = row["TIMESTAMP"]
            head, _, frac = stamp.partition(".")
            t = datetime.datetime.fromisoformat(head).timestamp() + float("0." + (frac or "0"))
            times.append(t)
            prompt.append(max(1, int(row["ContextTokens"])))
            output.append(max(1, int(row["GeneratedTokens"])))
    order = np.argsort(np.asarray(times), kind="stable")
    t_arr = np.asarray(times)[order]
    return Trace(
        t_arr - t_arr[0], np.asarray(prompt, dtype=np.int64)[order], np.asarray(output, dtype=np.int64)[order]
    )


def azure_step(
    waiting: int = 1000,
    running: int = 256,
    seed: int = 0,
    kv_capacity_tokens: int | None = None,
    history: int = 200,
    scenarios: int = 8,
    ttft_slo_s: float = TTFT_SLO_S,
    load: float = 4.0,
) -> BatchingInstance:
    """A heavy-load step from the trace: `running` requests part-way through their outputs, the next
    `waiting` arrivals (inter-arrival times divided by `load`), `history` finished output lengths.
    The capacity defaults to what the running requests hold now plus 25%: tight, as under heavy load."""
    tr = azure_trace()
    rng = np.random.default_rng(seed)
    need = history + running + waiting
    if need > len(tr):
        raise ValueError(f"the trace has {len(tr)} requests; {need} asked")
    start = int(rng.integers(0, len(tr) - need + 1))
    hist_idx = np.arange(start, start + history)
    run_idx = np.arange(start + history, start + history + running)
    wait_idx = np.arange(start + history + running, start + need)
    run_reqs = []
    held = 0
    for n, i in enumerate(run_idx.tolist()):
        out = int(tr.output[i])
        gen = int(rng.integers(1, out)) if out > 1 else 0
        gen = min(gen, MAX_NEW_TOKENS - 1)
        kv = int(tr.prompt[i]) + max(gen - 1, 0)
        held += kv
        run_reqs.append(
            RunningRequest(id=f"r{n}", kv_tokens=kv, generated_tokens=gen, max_new_tokens=MAX_NEW_TOKENS)
        )
    t0 = float(tr.arrival_s[wait_idx[0]]) if waiting else 0.0
    arrivals = (tr.arrival_s[wait_idx] - t0) / load
    now = float(arrivals[-1]) if waiting else 0.0
    wait_reqs = [
        WaitingRequest(
            id=f"w{n}",
            prompt_tokens=int(tr.prompt[i]),
            max_new_tokens=MAX_NEW_TOKENS,
            arrival_s=round(float(a), 6),
            ttft_deadline_s=round(float(a) + ttft_slo_s, 6),
        )
        for n, (i, a) in enumerate(zip(wait_idx.tolist(), arrivals.tolist(), strict=True))
    ]
    capacity = kv_capacity_tokens or int(held * 1.25) + 16 * (running + 1)
    return BatchingInstance(
        kv_capacity_tokens=capacity,
        block_tokens=16,
        max_num_seqs=max(512, running + 64),
        token_budget=8192,
        now_s=round(now, 6),
        running=run_reqs,
        waiting=wait_reqs,
        history_output_tokens=[int(x) for x in tr.output[hist_idx]],
        policy=Policy(scenarios=scenarios),
    )


def tiny_step(seed: int, running: int = 3, waiting: int = 4) -> BatchingInstance:
    """A small random step exercising every rule: decoding and prefilling running requests, priorities,
    TTFT deadlines (some passed), recomputed requests, resident shared prefixes, predictions and a
    history, a guard share, preemption on or off. Small enough for exhaustive search."""
    rng = np.random.default_rng(seed)
    block = int(rng.choice([1, 4, 16]))
    prefixes = {"sys": int(rng.integers(4, 40))}
    run = []
    for i in range(running):
        prefill = int(rng.integers(1, 60)) if rng.random() < 0.3 else 0
        gen = 0 if prefill else int(rng.integers(1, 40))
        kv = int(rng.integers(8, 120))
        req: dict = {
            "id": f"r{i}",
            "kv_tokens": kv,
            "generated_tokens": gen,
            "max_new_tokens": gen + int(rng.integers(1, 80)),
            "priority": int(rng.integers(0, 3)),
            "prefill_remaining_tokens": prefill,
        }
        if rng.random() < 0.3:
            req["prefix_id"], req["prefix_tokens"] = "sys", prefixes["sys"]
            req["kv_tokens"] = max(kv, prefixes["sys"])
        if rng.random() < 0.3:
            req["predicted_output_tokens"] = int(rng.integers(1, req["max_new_tokens"] + 1))
        if rng.random() < 0.2:
            req["tpot_deadline_ms"] = 50.0
        run.append(RunningRequest.model_validate(req))
    wait = []
    for j in range(waiting):
        gen = int(rng.integers(0, 10)) if rng.random() < 0.2 else 0
        prompt = int(rng.integers(prefixes["sys"] + 1, 200))
        req = {
            "id": f"w{j}",
            "prompt_tokens": prompt,
            "max_new_tokens": gen + int(rng.integers(1, 80)),
            "priority": int(rng.integers(0, 3)),
            "arrival_s": float(rng.integers(0, 10)),
            "generated_tokens": gen,
        }
        if rng.random() < 0.6:
            req["ttft_deadline_s"] = req["arrival_s"] + float(rng.integers(1, 12))
        if rng.random() < 0.4:
            req["prefix_id"], req["prefix_tokens"] = "sys", prefixes["sys"]
        if rng.random() < 0.3:
            req["predicted_output_tokens"] = int(rng.integers(1, req["max_new_tokens"] + 1))
        wait.append(WaitingRequest.model_validate(req))
    held = sum(r.kv_tokens for r in run)
    return BatchingInstance(
        kv_capacity_tokens=int(held * rng.uniform(1.1, 2.5)) + 200,
        block_tokens=block,
        max_num_seqs=int(rng.integers(max(1, running), running + waiting + 1)),
        token_budget=int(rng.integers(running + 1, 400)),
        now_s=10.0,
        running=run,
        waiting=wait,
        history_output_tokens=[int(x) for x in rng.integers(1, 80, size=int(rng.integers(0, 12)))],
        policy=Policy(
            scenarios=int(rng.integers(1, 5)),
            guard_share=float(rng.choice([0.0, 0.5, 1.0, 1.0])),
            scenario_seed=int(rng.integers(0, 100)),
            allow_preempt=bool(rng.random() < 0.7),
            eviction_cost_per_1k_tokens=int(rng.choice([0, 500, 2000])),
        ),
    )
