"""End-to-end guarantees of solve() on pods: budget, determinism, never worse, explanations."""

import json
import time
from pathlib import Path

import pytest

import solver
from models.pods import PodsRequest
from solver.engine import objective as lex
from solver.engine.errors import InvalidInstance
from solver.pods.generate import paper_instance

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "pods"
OVERHEAD_S = 0.05


def shipped(name, **options):
    req = json.loads((INSTANCES / f"{name}.json").read_text())
    req["options"].update(options)
    return req


def paper(n, ppn, k, util, seed=0, **options):
    return {
        "kind": "pods",
        "instance": paper_instance(n, ppn, k, util, seed).model_dump(),
        "options": {"time_limit_s": 0.5, **options},
    }


@pytest.mark.parametrize("name", ["small", "paper-n16-p8-k4-u100", "paper-n64-p8-k4-u105", "alibaba-64nodes"])
def test_shipped_instances_give_checked_plans_within_budget(name):
    req = shipped(name, time_limit_s=0.5)
    t0 = time.monotonic()
    r = solver.solve(req, started=t0)
    wall = time.monotonic() - t0
    assert solver.check("pods", req["instance"], r.plan).ok
    assert r.stats.total_s <= 0.5 + OVERHEAD_S and wall <= 0.5 + OVERHEAD_S
    for b in r.baselines:
        assert lex.no_worse(r.objective, b.objective, r.objective_sense)


def test_small_instance_optimum_with_explanations():
    r = solver.solve(shipped("small", time_limit_s=2))
    assert r.status == "optimal"
    assert r.objective == {
        "placed_priority_100": 1,
        "placed_priority_80": 0,
        "placed_priority_50": 6,
        "placed_priority_10": 1,
        "placed_priority_5": 1,
        "placed_priority_1": 1,
        "evictions": 0,
        "moves": 0,
    }
    assert lex.better(r.objective, r.baseline.objective, r.objective_sense)  # kube-default strands train-b
    why = {e.item: e for e in r.explanations}
    assert set(why) == set(r.plan.pending) | set(r.plan.evictions)
    assert why["train-xl"].constraint == "gpu"
    assert why["train-xl"].message == (
        "pod train-xl (priority 80) needs 8 idle GPUs; the most free on any eligible node is 0 "
        "(node gpu-a100), and at most 4 there even after displacing lower-priority pods (held by train-a)"
    )
    ilp = solver.solve(shipped("small", time_limit_s=5, engine="ilp"))
    assert ilp.status == "optimal" and ilp.objective == r.objective


def test_full_alibaba_cluster_is_never_worse_than_the_default():
    req = shipped("alibaba-full", time_limit_s=1.0)
    t0 = time.monotonic()
    r = solver.solve(req, started=t0)
    assert time.monotonic() - t0 <= 1.0 + OVERHEAD_S
    assert solver.check("pods", req["instance"], r.plan).ok
    kube = next(b for b in r.baselines if b.name == "kube-default")
    assert lex.no_worse(r.objective, kube.objective, r.objective_sense)


def test_one_worker_and_a_seed_reproduce_the_plan():
    for req in (paper(16, 8, 4, 1.0, workers=1, seed=3, time_limit_s=0.6), shipped("small", workers=1)):
        a, b = solver.solve(req), solver.solve(req)
        assert a.plan == b.plan and a.objective == b.objective


def test_exact_engine_beats_the_default_on_a_contested_cluster():
    r = solver.solve(shipped("paper-n16-p8-k4-u100", time_limit_s=1.0, workers=1))
    assert r.engine == "cpsat"
    assert lex.better(r.objective, r.baseline.objective, r.objective_sense)


def test_default_already_optimal_is_proven_without_search():
    # 8 nodes at 60% load: everything fits, so the cheap bound proves the default's plan at once
    r = solver.solve(paper(8, 4, 2, 0.6, time_limit_s=2))
    assert r.status == "optimal" and r.engine == "heuristic" and r.gap == 0.0
    assert r.stats.total_s < 0.5


def test_progress_series_improves():
    r = solver.solve(shipped("paper-n64-p8-k4-u105", time_limit_s=1.0, return_progress=True))
    series = [p.objective for p in r.progress]
    pairs = zip(series, series[1:], strict=False)
    assert series and all(lex.no_worse(later, earlier, r.objective_sense) for earlier, later in pairs)
    assert series[-1] == r.objective or lex.no_worse(r.objective, series[-1], r.objective_sense)


def test_infeasible_policy_is_explained():
    req = {
        "kind": "pods",
        "options": {"time_limit_s": 1},
        "instance": {
            "nodes": [
                {
                    "name": "n",
                    "capacity": {"cpu_m": 1000},
                    "taints": [{"key": "maintenance", "effect": "NoExecute"}],
                }
            ],
            "pods": [{"name": "stuck", "node": "n", "requests": {"cpu_m": 500}}],
            "policy": {"allow_eviction": False},
        },
    }
    r = solver.solve(req)
    assert r.status == "infeasible" and r.plan is None
    assert "must leave node n" in r.explanations[0].message


def test_cancel_stops_a_long_search_and_keeps_the_best_plan():
    import threading

    from solver.engine.budget import CancelToken

    token = CancelToken()
    req = shipped("paper-n64-p8-k4-u105", time_limit_s=30)
    threading.Timer(0.8, token.cancel).start()
    t0 = time.monotonic()
    r = solver.solve(req, cancel=token)
    assert time.monotonic() - t0 < 1.5
    assert any("cancelled" in w for w in r.warnings)
    assert solver.check("pods", req["instance"], r.plan).ok
    assert lex.no_worse(r.objective, r.baseline.objective, r.objective_sense)


def test_a_budget_below_the_clusters_floor_is_refused_and_the_floor_holds():
    # reading 1,523 nodes and 5,474 pods, one baseline pass and a check take ~0.22 s: 0.15 s cannot hold,
    # so it is bad input naming the field and the accepted range, not an answer 0.2 s late
    req = PodsRequest.model_validate(shipped("alibaba-full", time_limit_s=0.15))
    with pytest.raises(InvalidInstance) as exc:
        solver.solve(req)
    [err] = exc.value.errors
    assert err.path() == "options.time_limit_s" and err.value == 0.15
    floor = solver.REGISTRY["pods"].min_time_limit_s(req.instance)
    assert f"accepted: {floor:g} <= time_limit_s <= 600" in err.msg
    # at the floor the kube-default pass may stop at the limit: its partial plan, checked, is on time
    req = PodsRequest.model_validate(shipped("alibaba-full", time_limit_s=floor))
    plans = []
    t0 = time.monotonic()
    r = solver.solve(req, started=t0, on_plan=plans.append)
    assert time.monotonic() - t0 <= floor + 0.05
    assert solver.check("pods", req.instance, r.plan).ok
    assert plans and plans[0].method.startswith("kube-default") and plans[0].status in ("fallback", "optimal")
    assert r.baseline.name.startswith("kube-default")
