"""Exhaustive search for tiny batching steps, written apart from the solver: every admitted set, every
preemption set and every choice of the one partial chunk, judged by the independent checker.

A partial chunk only needs to fit (its size changes nothing else: the contract counts the lifetime of an
admitted request from a one-token chunk), so the smallest, one token, is the one to try. The checker's
verdict on the plan's bookkeeping (blocks now, peaks, breakdown) is left aside: those are the solver's
reports, not choices.
"""

from __future__ import annotations

import itertools

from models.batching import BatchingInstance, BatchingPlan
from solver.batching import check as checker

BOOKKEEPING = ("plan.kv_blocks_now", "plan.peak_tokens", "plan.breakdown")


def status_quo_chunks(inst: BatchingInstance) -> dict[str, int]:
    left = inst.token_budget - sum(1 for r in inst.running if r.prefill_remaining_tokens == 0)
    out = {}
    for r in inst.running:
        if r.prefill_remaining_tokens:
            c = max(0, min(r.prefill_remaining_tokens, left))
            left -= c
            out[r.id] = c
    return out


def best(inst: BatchingInstance) -> tuple[float, BatchingPlan] | None:
    resident = {r.prefix_id: r.prefix_tokens for r in inst.running if r.prefix_id is not None}
    work = {
        w.id: w.prompt_tokens + w.generated_tokens - (resident.get(w.prefix_id, 0) if w.prefix_id else 0)
        for w in inst.waiting
    }
    sq = status_quo_chunks(inst)
    run_ids = [r.id for r in inst.running]
    preempt_sets = (
        [c for k in range(len(run_ids) + 1) for c in itertools.combinations(run_ids, k)]
        if inst.policy.allow_preempt
        else [()]
    )
    found: tuple[float, BatchingPlan] | None = None
    for k in range(len(inst.waiting) + 1):
        for admit in itertools.combinations([w.id for w in inst.waiting], k):
            for gone in preempt_sets:
                for partial in (None, *(a for a in admit if work[a] > 1)):
                    chunks = {a: (1 if a == partial else work[a]) for a in admit}
                    chunks.update({r: c for r, c in sq.items() if r not in gone and c > 0})
                    plan = BatchingPlan(admit=list(admit), chunks=chunks, preempt=list(gone))
                    report = checker.check(inst, plan)
                    if any(not v.startswith(BOOKKEEPING) for v in report.violations):
                        continue
                    score = report.objective["score"]
                    if found is None or score > found[0] + 1e-9:
                        found = (score, plan)
    return found
