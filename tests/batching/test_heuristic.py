"""The baselines behave as the systems they emulate, and our guarded greedy keeps its guard."""

from __future__ import annotations

import numpy as np

from models.batching import BatchingInstance
from solver.batching import FAMILY
from solver.batching.check import check
from solver.batching.heuristic import guarded_greedy, lightllm_conservative, past_future, vllm_v1
from solver.batching.plans import to_plan
from tests.batching.conftest import small


def prepared(body: dict | None = None):
    inst = BatchingInstance.model_validate(body or small())
    return inst, FAMILY.prepare(inst)


def test_vllm_admits_in_arrival_order_and_stops_at_the_first_that_does_not_fit_now():
    inst, p = prepared()
    d = vllm_v1(p)
    # w0 (300 tokens, 30 blocks) fits now (37 + 30 of 70 blocks); w1 gets the 39 tokens left, 4 blocks: no
    assert [p.w_ids[j] for j in d.admit] == ["w0"] and d.chunks == [300] and d.kept.all()
    report = check(inst, to_plan(p, d))
    assert any("future peak exceeds the capacity" in v for v in report.violations)  # no look-ahead


def test_vllm_preempts_the_last_running_request_when_this_step_does_not_fit():
    body = small()
    body["kv_capacity_tokens"] = 350  # r0 needs 16 blocks, r1 16, the prefix 5: 37 > 35
    inst, p = prepared(body)
    d = vllm_v1(p)
    assert d.kept.tolist() == [True, False] and d.run_chunk.tolist() == [0, 0]
    plan = to_plan(p, d)
    assert plan.preempt == ["r1"] and check(inst, plan).ok


def test_conservative_reserves_max_new_tokens():
    inst, p = prepared()
    d = lightllm_conservative(p)
    # w0 first: with every request at its max_new_tokens the batch would need more than 700 tokens
    assert d.admit == []
    body = small()
    body["kv_capacity_tokens"] = 3000
    inst, p = prepared(body)
    d = lightllm_conservative(p)
    admitted = [p.w_ids[j] for j in d.admit]
    assert admitted and admitted == sorted(admitted)  # arrival order
    # its own estimate: running (KV + prompt left, max_new - generated), new (prompt, max_new), step by step
    held = [200 + 0, 100 + 60] + [inst.waiting[j].prompt_tokens for j in d.admit]
    left = [90, 50] + [inst.waiting[j].max_new_tokens for j in d.admit]
    peak = max(sum(h + t for h, r in zip(held, left, strict=True) if r >= t) for t in range(1, max(left) + 1))
    assert peak < 3000


def test_past_future_is_between_vllm_and_conservative_and_reproducible():
    body = small()
    for r in body["running"] + body["waiting"]:
        r.pop("predicted_output_tokens")
    body["history_output_tokens"] = [4, 8, 12, 20, 25, 30, 35]
    body["kv_capacity_tokens"] = 1100
    inst, p = prepared(body)
    a, b = past_future(p), past_future(p)
    assert a.admit == b.admit
    assert len(lightllm_conservative(p).admit) <= len(a.admit) <= len(vllm_v1(p).admit)


def test_guarded_greedy_keeps_the_guard_and_passes_over_what_does_not_fit():
    inst, p = prepared()
    d = guarded_greedy(p)
    assert [p.w_ids[j] for j in d.admit] == ["w1", "w2", "w3"]
    report = check(inst, to_plan(p, d))
    assert report.ok and report.objective == {"score": 2990.0}


def test_guarded_greedy_preempts_when_the_running_requests_alone_overflow_and_it_pays():
    body = small()
    body["waiting"] = []
    body["running"][0]["predicted_output_tokens"] = 100  # r0 lives 90 more steps: 200 + 90 > capacity
    body["kv_capacity_tokens"] = 400
    body["policy"]["eviction_cost_per_1k_tokens"] = 200_000  # 200 points per token: 18 tokens over cost 3,600
    inst, p = prepared(body)
    assert p.base_peak[0] > p.cap
    d = guarded_greedy(p)
    assert not d.kept.all()
    report = check(inst, to_plan(p, d))
    assert report.ok and report.objective["score"] > check(inst, to_plan(p, vllm_v1(p))).objective["score"]


def test_azure_step_every_heuristic_fits_this_step():
    from solver.batching.generate import azure_step

    inst = azure_step(waiting=300, running=120, seed=3)
    p = FAMILY.prepare(inst)
    for algo in (vllm_v1, lightllm_conservative, past_future, guarded_greedy):
        plan = to_plan(p, algo(p))
        physical = [
            v for v in check(inst, plan).violations if "future peak" not in v
        ]  # the baselines do not look ahead by our guard
        assert physical == [], (algo.__name__, physical)
        assert plan.kv_blocks_now <= inst.kv_capacity_tokens // inst.block_tokens
    assert check(inst, to_plan(p, guarded_greedy(p))).ok
    assert np.all(np.asarray(to_plan(p, guarded_greedy(p)).peak_tokens) <= np.maximum(p.cap, p.base_peak))


def test_admitting_runs_at_once_gives_the_plan_of_one_by_one(monkeypatch):
    """The guarded greedy admits a run of consecutive admissible requests in one grid update; on trace
    steps (long runs), a tolerant guard with an eviction cost (runs refused for their overflow) and tiny
    steps (prefixes, preemption), the plan is the one-at-a-time pass's."""
    from models.batching import Policy
    from solver.batching import heuristic
    from solver.batching.generate import azure_step, tiny_step

    tolerant = Policy(guard_share=0.5, eviction_cost_per_1k_tokens=50)
    insts = [azure_step(400, 128, seed=k) for k in range(2)]
    insts += [azure_step(300, 100, seed=5).model_copy(update={"policy": tolerant})]
    insts += [tiny_step(s, running=4, waiting=8) for s in range(20)]
    runs = heuristic._run_of_hits
    lengths: list[int] = []

    def grouped_runs(*args):
        out = runs(*args)
        lengths.append(len(out))
        return out

    decisions = []
    for one_by_one in (False, True):
        monkeypatch.setattr(
            heuristic, "_run_of_hits", (lambda *a: runs(*a)[:1]) if one_by_one else grouped_runs
        )
        decisions.append([guarded_greedy(FAMILY.prepare(inst)) for inst in insts])
    grouped, single = decisions
    assert max(lengths) >= 5 and sum(n > 1 for n in lengths) >= 10  # runs do form
    for a, b in zip(grouped, single, strict=True):
        assert (a.admit, a.chunks, a.kept.tolist()) == (b.admit, b.chunks, b.kept.tolist())


def test_lightllm_loops_admit_what_one_by_one_admission_does(monkeypatch):
    """LightLLM's loop computes the peaks of a block of candidates at once; the reference admits one at a
    time, recomputing the worst list's peak (the sorted-remaining formula) each time."""
    from models.batching import Policy
    from solver.batching import heuristic
    from solver.batching.generate import azure_step, tiny_step
    from solver.batching.heuristic import Step, fit_running
    from tests.batching.peak_formula import peaks_of

    def reference(p, left_run, new_left):
        kept, chunk = fit_running(p, p.inst.policy.allow_preempt)
        st = Step(p, kept, chunk)
        idx = np.flatnonzero(kept)
        held, left = heuristic._run_tokens(p)[idx], left_run[:, idx]
        w_held = p.w_work + np.where(
            p.w_prefix >= 0, p.px_tokens[np.maximum(p.w_prefix, 0)] if len(p.px_ids) else 0, 0
        )
        for j in p.order.tolist():
            ok, c, _ = st.fits(j)
            if not ok:
                break
            h, lf = np.append(held, w_held[j]), np.concatenate([left, new_left[:, j : j + 1]], axis=1)
            if peaks_of(h, lf, np.ones(len(h), dtype=np.int64)).max() >= p.cap:
                break
            held, left = h, lf
            st.take(j, c)
        return st.admit, st.chunks

    insts = [azure_step(300, 60, seed=k, kv_capacity_tokens=cap) for k, cap in ((0, 400_000), (1, 90_000))]
    roomy = azure_step(300, 60, seed=3, kv_capacity_tokens=3_000_000)  # long admission runs
    insts += [roomy.model_copy(update={"token_budget": 200_000, "max_num_seqs": 400})]
    insts += [azure_step(200, 30, seed=2).model_copy(update={"policy": Policy(guard_share=0.0)})]
    insts += [tiny_step(s, running=3, waiting=40) for s in range(30)]
    seen = set()
    real = heuristic._lightllm
    calls: list = []

    def recorded(p, held, left_run, new_left):
        calls.append((left_run, new_left))
        return real(p, held, left_run, new_left)

    monkeypatch.setattr(heuristic, "_lightllm", recorded)
    for inst in insts:
        p = FAMILY.prepare(inst)
        for algo in (lightllm_conservative, past_future):
            d = algo(p)
            left_run, new_left = calls[-1]
            assert (d.admit, d.chunks) == reference(p, left_run, new_left)
            seen.add(len(d.admit))
    assert max(seen) > 8 + 16 + 32  # blocks beyond the first ones were needed
