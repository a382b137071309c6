"""Between decisions (indices) and plans (the public BatchingPlan): the step's memory, the future peaks and
the objective, computed from the prepared arrays (the checker recomputes all of it on its own)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from models.batching import BatchingPlan
from solver.batching.problem import Problem, batch_peaks, ceil_div
from solver.engine.objective import Senses

SCORE = "score"


def senses() -> Senses:
    return {SCORE: "max"}


@dataclass
class Decision:
    """Waiting requests admitted (indices, in admission order) with their chunks; running kept (mask) with
    their prefill chunks this step."""

    admit: list[int]
    chunks: list[int]
    kept: np.ndarray
    run_chunk: np.ndarray
    notes: list[str] = field(default_factory=list)


def blocks_now(p: Problem, d: Decision) -> int:
    run = p.run_blocks(d.run_chunk)[d.kept]
    new = ceil_div(np.asarray(d.chunks, dtype=np.int64), p.block)
    owners = np.concatenate([p.r_prefix[d.kept], p.w_prefix[np.asarray(d.admit, dtype=np.int64)]])
    present = np.unique(owners[owners >= 0])
    return int(run.sum() + new.sum() + p.px_blocks[present].sum())


def peaks(p: Problem, d: Decision) -> np.ndarray:
    return batch_peaks(p, d.kept, np.asarray(d.admit, dtype=np.int64))


def passed_over(p: Problem, admit: list[int]) -> np.ndarray:
    """Waiting requests left waiting while a later arrival is admitted (bool per waiting index)."""
    out = np.zeros(p.nw, dtype=bool)
    if admit:
        latest = int(p.rank[np.asarray(admit)].max())
        out[p.order[:latest]] = True
        out[np.asarray(admit)] = False
    return out


def breakdown(p: Problem, d: Decision, peak: np.ndarray) -> dict[str, float]:
    admit = np.asarray(d.admit, dtype=np.int64)
    value = float(p.w_value[admit].sum())
    skip = float(p.w_pen[passed_over(p, d.admit)].sum())
    preempt = float(p.r_cost[~d.kept].sum())
    overflow = float(np.maximum(peak - p.cap, 0).sum()) / p.scenarios
    eviction = p.eviction_per_1k * overflow / 1000.0
    return {
        "value": value,
        "skip_penalty": skip,
        "preempt_cost": preempt,
        "expected_overflow_tokens": overflow,
        "eviction_cost": eviction,
        SCORE: value - skip - preempt - eviction,
    }


def evaluate(p: Problem, d: Decision) -> dict[str, float]:
    return {SCORE: breakdown(p, d, peaks(p, d))[SCORE]}


def to_plan(p: Problem, d: Decision) -> BatchingPlan:
    peak = peaks(p, d)
    chunks = {p.w_ids[j]: int(c) for j, c in zip(d.admit, d.chunks, strict=True)}
    for i in np.flatnonzero(d.kept & ~p.r_decoding & (d.run_chunk > 0)).tolist():
        chunks[p.r_ids[i]] = int(d.run_chunk[i])
    # built from values computed here, not parsed: skip validation
    return BatchingPlan.model_construct(
        admit=[p.w_ids[j] for j in d.admit],
        chunks=chunks,
        preempt=[p.r_ids[i] for i in np.flatnonzero(~d.kept).tolist()],
        kv_blocks_now=blocks_now(p, d),
        peak_tokens=[int(x) for x in peak.tolist()],
        breakdown=breakdown(p, d, peak),
    )


def from_plan(p: Problem, plan: BatchingPlan) -> Decision:
    w_index = dict(zip(p.w_ids, range(p.nw), strict=True))
    kept = np.ones(p.nr, dtype=bool)
    if plan.preempt:
        r_index = dict(zip(p.r_ids, range(p.nr), strict=True))
        for r in plan.preempt:
            kept[r_index[r]] = False
    run_chunk = np.zeros(p.nr, dtype=np.int64)
    for i in np.flatnonzero(kept & ~p.r_decoding).tolist():
        run_chunk[i] = plan.chunks.get(p.r_ids[i], 0)
    admit = [w_index[w] for w in plan.admit]
    return Decision(admit, [plan.chunks[w] for w in plan.admit], kept, run_chunk)
