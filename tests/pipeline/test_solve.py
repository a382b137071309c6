"""End-to-end guarantees of solve() on pipelines: checked plans from every engine, proven optima, the
budget, determinism, never worse than the baselines, fronts that are non-dominated and hold both
single-objective optima, explanations with numbers."""

from __future__ import annotations

import time

import pytest

import solver
from solver.engine import objective as lex
from solver.pipeline import exact, latency_dp
from solver.pipeline.generate import synthetic
from solver.pipeline.plans import close
from tests.pipeline.conftest import VIT_BASE, edge, request, shipped

OVERHEAD_S = 0.05


def solved(req: dict, **expect: object):
    t0 = time.monotonic()
    r = solver.solve(req, started=t0)
    wall = time.monotonic() - t0
    limit = req["options"]["time_limit_s"]
    assert r.stats.total_s <= limit + OVERHEAD_S and wall <= limit + OVERHEAD_S, (r.stats.total_s, wall)
    if r.plan is not None:
        report = solver.check("pipeline", req["instance"], r.plan)
        assert report.ok, report.violations
        assert report.objective == r.objective
        for b in r.baselines:
            if b.feasible:
                assert lex.no_worse(r.objective, b.objective, r.objective_sense), b
    for key, value in expect.items():
        assert getattr(r, key) == value, (key, getattr(r, key), r.warnings)
    return r


def test_heterogeneous_100_layers_on_16_devices_proven_within_1_s():
    """The issue's target: the proven optimum for 100 layers on 16 heterogeneous devices within 1 s."""
    r = solved(
        shipped("hetero-100x16.json") | {"options": {"time_limit_s": 1.0, "workers": 2}}, status="optimal"
    )
    assert r.baseline.name == "pipeedge-dp" and r.method == "reach-dp + latency-dp"
    assert r.objective["bottleneck_ms"] == pytest.approx(59.4609, abs=1e-9)
    assert r.objective["latency_ms"] < r.baseline.objective["latency_ms"]
    assert r.gap == 0.0 and r.bound == pytest.approx(r.objective, rel=1e-12)


@pytest.mark.parametrize("engine", ["heuristic", "cpsat", "ilp"])
@pytest.mark.parametrize("objective", ["throughput", "latency", "pareto"])
@pytest.mark.parametrize("shape", ["uniform", "racks-training"])
def test_every_engine_gives_checked_plans(engine, objective, shape):
    net, mode = ("racks", "training") if shape == "racks-training" else ("uniform", "inference")
    inst = synthetic(
        layers=24, counts=(3, 3), seed=1, network=net, mode=mode, objective=objective, memory_share=0.4
    )
    r = solved(request(inst, engine=engine, time_limit_s=1.5))
    assert r.status in ("optimal", "feasible", "fallback") and r.plan is not None
    if engine != "heuristic":
        assert r.status == "optimal", r.warnings


def test_engines_agree_on_a_mid_size_instance(monkeypatch):
    """The CP-SAT and ILP arc models on their own (the DPs off), and the DPs, all reach one optimum."""
    inst = synthetic(
        layers=40, counts=(3, 3, 2), seed=4, objective="latency", mode="training", memory_share=0.5
    )
    dp = solved(request(inst, time_limit_s=5.0), status="optimal")
    monkeypatch.setattr(exact, "DP_RATE", 0.0)
    monkeypatch.setattr(latency_dp, "MAX_CELLS", 0)
    cp = solved(request(inst, time_limit_s=5.0), status="optimal")
    ilp = solved(request(inst, engine="ilp", time_limit_s=5.0), status="optimal")
    assert "latency-dp" in dp.method and "latency-dp" not in cp.method + ilp.method
    for r in (cp, ilp):
        assert close(r.objective["latency_ms"], dp.objective["latency_ms"])
        assert close(r.objective["bottleneck_ms"], dp.objective["bottleneck_ms"])


def test_pareto_front_is_non_dominated_and_holds_both_single_objective_optima():
    inst = edge(VIT_BASE, "pareto")
    r = solved(request(inst, time_limit_s=8.0), status="optimal")
    front = [(sp.objective.bottleneck_ms, sp.objective.latency_ms) for sp in r.plan.plans]
    assert r.plan.complete and r.plan.explored_down_to_ms is None and len(front) >= 5
    assert all(b0 < b1 and l0 > l1 for (b0, l0), (b1, l1) in zip(front, front[1:], strict=False))
    thr = solved(
        request(inst.model_copy(update={"objective": "throughput"}), time_limit_s=3.0), status="optimal"
    )
    lat = solved(
        request(inst.model_copy(update={"objective": "latency"}), time_limit_s=3.0), status="optimal"
    )
    assert close(front[0][0], thr.objective["bottleneck_ms"]) and close(
        front[0][1], thr.objective["latency_ms"]
    )
    assert close(front[-1][1], lat.objective["latency_ms"]) and close(
        front[-1][0], lat.objective["bottleneck_ms"]
    )
    assert r.objective["bottleneck_ms"] == front[0][0] and r.objective["latency_ms"] == front[-1][1]
    [why] = r.explanations
    assert why.item == "front" and f"{len(front)} non-dominated plans (the exact front)" in why.message


def test_a_front_of_at_least_10_points_within_5_s():
    """The issue's target, on the shipped 100-layer, 16-device instance: the exact front, complete."""
    req = shipped("hetero-100x16.json")
    req["instance"]["objective"] = "pareto"
    r = solved(req | {"options": {"time_limit_s": 5.0, "workers": 2}}, status="optimal")
    assert r.plan.complete and len(r.plan.plans) >= 10


def test_a_front_cut_short_says_so_and_bounds_what_is_missing():
    """138 points take about 1.2 s here: in 0.3 s the front is partial, and says so."""
    inst = synthetic(layers=100, counts=(4, 4, 4, 4), seed=0, objective="pareto")
    r = solved(request(inst, time_limit_s=0.3))
    assert r.plan is not None and len(r.plan.plans) >= 2
    assert r.status in ("feasible", "fallback") and not r.plan.complete
    assert r.gap is not None and r.gap > 0
    assert r.bound["hypervolume_ms2"] > r.objective["hypervolume_ms2"]
    if r.engine != "heuristic":  # the sweep ran: the points above its floor are proven
        floor = r.plan.explored_down_to_ms
        assert floor is not None and any(sp.objective.bottleneck_ms >= floor for sp in r.plan.plans)


def test_determinism_with_one_worker():
    inst = synthetic(layers=60, counts=(4, 4), seed=3, objective="pareto", mode="training", memory_share=0.3)
    a = solver.solve(request(inst, workers=1, seed=7, time_limit_s=2.0))
    b = solver.solve(request(inst, workers=1, seed=7, time_limit_s=2.0))
    assert a.plan.model_dump() == b.plan.model_dump() and a.status == b.status


def test_explanations_name_the_bottleneck_and_unused_devices():
    inst = edge(VIT_BASE)
    inst.max_stages = 5
    r = solved(request(inst, time_limit_s=2.0), status="optimal")
    assert len(r.plan.stages) <= 5
    by = {e.constraint: e for e in r.explanations}
    assert by["bottleneck (compute)"].message.startswith("the bottleneck is stage")
    assert "ms per microbatch" in by["bottleneck (compute)"].message
    assert "of 8 devices host no stage (at most 5 stages)" in by["unused"].message


def test_heuristic_engine_and_progress():
    inst = synthetic(layers=50, counts=(4, 4), seed=2)
    r = solved(request(inst, engine="heuristic", time_limit_s=1.0))
    assert r.engine == "heuristic" and r.status in ("feasible", "optimal")
    # PipeDream plans for the smallest memory on every device and finds no plan here: it is not listed
    assert {b.name for b in r.baselines} == {"pipeedge-dp", "greedy-balanced"}
    p = solved(request(inst, time_limit_s=2.0, return_progress=True), status="optimal")
    assert p.progress and p.progress[-1].objective == p.objective


def test_short_budget_returns_the_checked_baseline_in_time():
    inst = synthetic(layers=300, counts=(8, 8, 8, 8), seed=0, objective="latency")
    r = solved(request(inst, time_limit_s=0.3))
    assert r.plan is not None


@pytest.mark.parametrize(
    ("objective", "mode", "network", "limit"),
    [
        ("throughput", "inference", "racks", 0.1),
        ("latency", "training", "uniform", 0.1),
        ("pareto", "training", "uniform", 0.1),
        ("pareto", "training", "racks", 0.3),
    ],
)
def test_the_largest_sizes_of_the_issue_answer_within_short_budgets(objective, mode, network, limit):
    """500 layers on 64 devices of 4 types: baselines, checks and explanations fit 0.1 s (a front over two
    racks: 0.3 s, its checks time every transfer by a best-path search)."""
    inst = synthetic(
        layers=500, counts=(16, 16, 16, 16), seed=0, objective=objective, mode=mode, network=network
    )
    r = solved(request(inst, time_limit_s=limit))
    assert r.plan is not None and r.status in ("optimal", "feasible", "fallback")
