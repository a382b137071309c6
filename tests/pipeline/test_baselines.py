"""The baselines as their authors run them, and the exact engine held to them where they are optimal:
PipeDream's DP on identical devices, PipeEdge's DP on its own heterogeneous edge cluster."""

from __future__ import annotations

import math

import pytest

import solver
from solver.engine.budget import Deadline
from solver.pipeline import heuristic
from solver.pipeline.generate import synthetic
from solver.pipeline.plans import close, evaluate
from solver.pipeline.problem import build
from tests.pipeline.bruteforce import best, feasible
from tests.pipeline.conftest import VIT_BASE, VIT_LARGE, edge, pipedream, request, tiny


@pytest.mark.parametrize(
    ("name", "devices", "mode"),
    [("vgg16", 4, "inference"), ("vgg16", 8, "training"), ("gnmt", 8, "inference"), ("gnmt", 6, "training")],
)
def test_exact_equals_pipedream_dp_on_identical_devices(name, devices, mode):
    inst = pipedream(name, devices, mode)
    p = build(inst)
    dp = heuristic.pipedream(p)
    assert dp.chosen is not None and dp.chosen.feasible
    r = solver.solve(request(inst, time_limit_s=3.0))
    assert r.status == "optimal"
    assert close(r.objective["bottleneck_ms"], dp.chosen.bottleneck)
    assert r.baseline.name == "pipedream-dp"  # one device type: PipeDream is what users run
    assert r.objective["latency_ms"] <= dp.chosen.latency * (1 + 1e-9)


def test_pipedream_dp_is_optimal_for_each_stage_count_on_identical_devices():
    for seed in range(12):
        inst = synthetic(layers=6, counts=(3,), seed=seed, memory_share=0.5)
        p = build(inst)
        dp = heuristic.pipedream(p)
        ref = best(p, "throughput")
        if ref is None:
            assert dp.chosen is None
            continue
        assert close(dp.chosen.bottleneck, ref.bottleneck)
        by_count = {len(c.placement): c for c in dp.candidates}
        for r in range(1, p.kmax + 1):  # r stages: no r-stage plan has a smaller bottleneck
            plans = [e for e in feasible(p) if len(e.placement) == r]
            if not plans:
                assert r not in by_count
                continue
            assert by_count[r].feasible
            assert close(by_count[r].bottleneck, min(e.bottleneck for e in plans)), (seed, r)


@pytest.mark.parametrize("model", [VIT_BASE, VIT_LARGE])
def test_exact_equals_pipeedge_dp_on_the_edge_cluster(model):
    inst = edge(model)
    p = build(inst)
    assert [c.count for c in p.classes] == [4, 4] and p.uniform_cut is not None
    dp = heuristic.pipeedge(p)
    assert dp.chosen is not None and dp.chosen.feasible
    r = solver.solve(request(inst, time_limit_s=3.0))
    assert r.status == "optimal" and r.baseline.name == "pipeedge-dp"
    assert close(r.objective["bottleneck_ms"], dp.chosen.bottleneck)
    assert r.baseline.objective["bottleneck_ms"] == pytest.approx(dp.chosen.bottleneck, rel=1e-12)
    # the exact engine also takes the least latency among the plans of that bottleneck
    assert r.objective["latency_ms"] <= dp.chosen.latency * (1 + 1e-9)


def test_vit_large_does_not_fit_one_minnowboard_and_is_split():
    inst = edge(VIT_LARGE)
    weights = sum(layer.weight_bytes for layer in inst.layers)
    assert weights / 2**20 == pytest.approx(2903.0, abs=0.5)
    mb = [d for d in inst.devices if d.type == "Minnowboard-E3845"]
    assert mb and all(d.memory_bytes == 2048 * 2**20 for d in mb) and weights > mb[0].memory_bytes
    only_mb = inst.model_copy(update={"devices": mb[:1]})
    r = solver.solve(request(only_mb, time_limit_s=1.0))
    assert r.status == "infeasible"
    [why] = r.explanations
    assert "2.83 GiB" in why.message and "the only device, mb-0, holds 2.00 GiB" in why.message


def test_pipeedge_dp_is_optimal_within_its_model():
    """Devices of a type alike and one network: PipeEdge's model is the contract, its DP the optimum."""
    for seed in range(16):
        inst = tiny(seed)
        if inst.mode == "training" or inst.network.links is not None:
            continue
        p = build(inst)
        if any(len({p.dev_memory[d] for d in range(p.D) if p.dev_type[d] == t}) > 1 for t in range(p.T)):
            continue
        ref = best(p, "throughput")
        dp = heuristic.pipeedge(p)
        if ref is None:
            assert dp.chosen is None
        else:
            assert dp.chosen is not None and close(dp.chosen.bottleneck, ref.bottleneck), seed


def test_greedy_and_every_baseline_give_feasible_plans_or_none():
    for seed in range(16):
        p = build(tiny(seed))
        ref = best(p, "throughput")
        for run in heuristic.run_all(p, Deadline(1.0)):
            for cand in run.candidates:
                if cand.feasible:
                    assert ref is not None and cand.bottleneck >= ref.bottleneck * (1 - 1e-9)
                assert evaluate(p, cand.placement).bottleneck == cand.bottleneck


def test_pipeedge_is_skipped_with_the_reason_when_its_state_space_is_too_large():
    p = build(synthetic(layers=300, counts=(16, 16, 16, 16), seed=0))
    runs = {r.name: r for r in heuristic.run_all(p, Deadline(1.0))}
    assert runs["pipeedge-dp"].chosen is None and "state space" in runs["pipeedge-dp"].note
    assert runs["greedy-balanced"].chosen is not None and math.isfinite(
        runs["greedy-balanced"].chosen.bottleneck
    )


def test_pipeedge_pruning_never_changes_its_answer():
    """Pruned by a bound below PipeEdge's own optimum (its model overestimates transfers), it reruns."""
    for seed in range(8):
        p = build(tiny(seed))
        full = heuristic.pipeedge(p)
        for upper in (1e-9, full.chosen.bottleneck if full.chosen else 1.0):
            pruned = heuristic.pipeedge(p, upper)
            assert [e.placement for e in pruned.candidates] == [e.placement for e in full.candidates], seed
