"""The checker accepts a valid plan with its worked-out numbers and catches a planted violation of every
rule, each with the numbers; the plan's bookkeeping must match the batch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from models.batching import BatchingInstance, BatchingPlan
from solver.batching.check import check
from tests.batching.conftest import small

INSTANCE = BatchingInstance.model_validate(small())
BREAKDOWN = {
    "value": 3000.0,  # w1 1250 (urgency 0.25: deadline in 1 s of 2), w2 1000, w3 750 (priority 2, late)
    "skip_penalty": 10.0,  # w0 passed over (waited 9 s < 10 s grace: 10 points)
    "preempt_cost": 0.0,
    "expected_overflow_tokens": 0.0,
    "eviction_cost": 0.0,
    "score": 2990.0,
}
VALID: dict[str, Any] = {
    "admit": ["w1", "w2", "w3"],
    "chunks": {"w1": 70, "w2": 90, "w3": 30, "r1": 60},
    "preempt": [],
    "kv_blocks_now": 56,  # r0 16, r1 16, sys 5, w1 7, w2 9, w3 3
    "peak_tokens": [625],  # at step 6: r0 165 + r1 175 + sys 50 + w1 85 + w2 105 + w3 45
    "breakdown": BREAKDOWN,
}


def plan(**edits: Any) -> BatchingPlan:
    body = copy.deepcopy(VALID)
    body.update(edits)
    return BatchingPlan.model_validate(body)


def test_valid_plan_passes_with_its_score():
    report = check(INSTANCE, plan())
    assert report.violations == []
    assert report.objective == {"score": 2990.0}


def test_status_quo_passes():
    report = check(
        INSTANCE,
        plan(
            admit=[],
            chunks={"r1": 60},
            kv_blocks_now=37,
            peak_tokens=[418],
            breakdown={**BREAKDOWN, "value": 0.0, "skip_penalty": 0.0, "score": 0.0},
        ),
    )
    assert report.violations == [] and report.objective == {"score": 0.0}


def _with(inst_edit: Any = None, **plan_edits: Any) -> list[str]:
    inst = INSTANCE
    if inst_edit is not None:
        body = small()
        inst_edit(body)
        inst = BatchingInstance.model_validate(body)
    return check(inst, plan(**plan_edits)).violations


CASES: dict[str, tuple[dict[str, Any], Any, str]] = {
    # case: (plan edits, instance edit, words expected in one violation)
    "unknown admitted": (
        {"admit": ["w1", "w2", "w3", "zz"]},
        None,
        "admits zz, which is not a waiting request",
    ),
    "admitted twice": ({"admit": ["w1", "w2", "w3", "w2"]}, None, "admits w2 twice"),
    "unknown preempted": ({"preempt": ["zz"]}, None, "preempts zz, which is not a running request"),
    "preempted twice": (
        {"preempt": ["r0", "r0"]},
        lambda b: None,
        "preempts r0 twice",
    ),
    "preemption forbidden": (
        {"preempt": ["r0"]},
        lambda b: b["policy"].update(allow_preempt=False),
        "the policy forbids preemption",
    ),
    "chunk to a waiting request": (
        {"chunks": {**VALID["chunks"], "w0": 10}},
        None,
        "gives a chunk to w0, which is left waiting",
    ),
    "chunk to a preempted request": (
        {"preempt": ["r1"]},
        None,
        "gives a chunk to r1, which it preempts",
    ),
    "chunk to a decoding request": ({"chunks": {**VALID["chunks"], "r0": 5}}, None, "r0, which is decoding"),
    "chunk to an unknown request": ({"chunks": {**VALID["chunks"], "zz": 5}}, None, "unknown request zz"),
    "running prefill starved": (
        {"chunks": {"w1": 70, "w2": 90, "w3": 30, "r1": 10}},
        None,
        "chunk of running r1 is 10; running prefills continue first with 60",
    ),
    "admitted without a chunk": (
        {"chunks": {"w1": 70, "w2": 90, "r1": 60}},
        None,
        "chunk of admitted w3 is 0",
    ),
    "chunk above the prefill": (
        {"chunks": {**VALID["chunks"], "w1": 71}},
        None,
        "chunk of admitted w1 is 71; it must be 1..70",
    ),
    "two partial chunks": (
        {"chunks": {**VALID["chunks"], "w1": 10, "w2": 10}},
        None,
        "2 admitted requests get part of their prefill; at most one may",
    ),
    "seats": (
        {},
        lambda b: b.update(max_num_seqs=4),
        "the batch has 5 requests; max_num_seqs is 4",
    ),
    "token budget": (
        {},
        lambda b: b.update(token_budget=250),
        "computes 251 tokens this step (1 decodes + prefill chunks); token_budget is 250",
    ),
    "kv blocks now": (
        {"admit": ["w0", "w1", "w2", "w3"], "chunks": {**VALID["chunks"], "w0": 199}},
        None,
        "this step needs 76 KV blocks; the cache has 70",
    ),
    "future peak": (
        {"admit": ["w0"], "chunks": {"w0": 300, "r1": 60}},
        None,
        "the future peak exceeds the capacity in 1 of 1 scenarios (at most 0 may): 747 tokens in scenario 0, "
        "limit 700",
    ),
    "blocks bookkeeping": ({"kv_blocks_now": 55}, None, "plan.kv_blocks_now says 55; the batch holds 56"),
    "peak bookkeeping": (
        {"peak_tokens": [600]},
        None,
        "plan.peak_tokens [600] do not match the batch's [625]",
    ),
    "score bookkeeping": (
        {"breakdown": {**BREAKDOWN, "score": 3000.0}},
        None,
        "plan.breakdown['score'] is 3000.0",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_planted_violation_is_caught(case):
    edits, inst_edit, words = CASES[case]
    violations = _with(inst_edit, **edits)
    assert any(words in v for v in violations), violations


def test_guard_share_tolerates_the_allowed_scenarios():
    """Four scenarios drawn from a history; a plan over the limit in some of them passes exactly when the
    share allows that many."""
    body = small()
    for r in body["running"] + body["waiting"]:
        r.pop("predicted_output_tokens")
    body["history_output_tokens"] = [5, 10, 20, 30, 40, 45, 50]
    body["policy"] = {"scenarios": 4, "guard_share": 1.0, "scenario_seed": 3}
    inst = BatchingInstance.model_validate(body)
    greedy = BatchingPlan(admit=["w0", "w1"], chunks={"w0": 300, "w1": 39, "r1": 60})
    over = [v for v in check(inst, greedy).violations if "future peak" in v]
    assert over, "this plan overflows some scenarios"
    failing = int(over[0].split(" in ")[1].split(" of ")[0])
    for share, ok in ((1.0, False), ((4 - failing) / 4, True), ((4 - failing + 1) / 4, False)):
        body["policy"]["guard_share"] = share
        inst = BatchingInstance.model_validate(body)
        assert (not any("future peak" in v for v in check(inst, greedy).violations)) == ok, share


def test_a_plan_judged_again_gets_the_same_verdict_and_an_edited_one_is_judged_afresh():
    """The checker remembers its verdicts per instance by the plan's whole content (the portfolio judges
    the baselines' identical plans once): the same content gets an equal (not shared) report; a plan
    edited in place after its verdict, in any field, is judged again."""
    p = plan()
    first = check(INSTANCE, p)
    again = check(INSTANCE, p)
    assert again.violations == first.violations == [] and again.objective == first.objective
    again.violations.append("edited by a caller")
    assert check(INSTANCE, p).violations == []
    p.breakdown["score"] = 1.0
    assert any("breakdown['score']" in v for v in check(INSTANCE, p).violations)
    p.breakdown["score"] = 2990.0
    p.peak_tokens[0] = 600
    assert any("peak_tokens" in v for v in check(INSTANCE, p).violations)
    p.peak_tokens[0] = 625
    p.chunks["w3"] = 31
    assert any("chunk of admitted w3" in v for v in check(INSTANCE, p).violations)
    p.chunks["w3"] = 30
    assert check(INSTANCE, p).violations == []
