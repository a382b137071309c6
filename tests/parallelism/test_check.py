"""The checker accepts the solver's plans and catches a planted violation of every rule."""

from __future__ import annotations

import copy
from typing import Any

import pytest

import solver
from models.parallelism import ParallelismInstance, ParallelismPlan
from solver.parallelism.check import check
from solver.parallelism.generate import chat_workload, melange, request
from solver.parallelism.plans import Group, config_at, to_plan
from solver.parallelism.problem import build

MODELED = {
    "model": "llama-3-70b",
    "workload": chat_workload(6.0),
    "inventory": [
        {"gpu": "H100-SXM", "count": 12, "gpus_per_node": 6, "cost_per_hour": 6.5},
        {"gpu": "A100-80GB", "count": 8, "cost_per_hour": 3.67},
    ],
}


def plan_of(inst: dict[str, Any], **options: Any) -> dict[str, Any]:
    r = solver.solve(request(inst, workers=1, **options))
    assert r.plan is not None
    return r.plan.model_dump()


@pytest.fixture(scope="module")
def modeled() -> dict[str, Any]:
    return plan_of(MODELED)


@pytest.fixture(scope="module")
def bucketed() -> dict[str, Any]:
    return plan_of(melange())


def violations(inst: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    return check(ParallelismInstance.model_validate(inst), ParallelismPlan.model_validate(plan)).violations


def test_solver_plans_pass(modeled, bucketed):
    assert violations(MODELED, modeled) == []
    assert violations(melange(), bucketed) == []
    assert len(modeled["replicas"]) >= 1


def _edit(plan: dict[str, Any], group: int = 0, **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(plan)
    out["replicas"][group].update(changes)
    return out


def _resum(plan: dict[str, Any]) -> dict[str, Any]:
    t = plan["totals"]
    t["replicas"] = sum(g["count"] for g in plan["replicas"])
    t["gpus"] = sum(g["count"] * g["gpus_per_replica"] for g in plan["replicas"])
    t["cost_per_hour"] = sum(g["count"] * g["cost_per_hour"] for g in plan["replicas"])
    for g in plan["replicas"]:
        g["total_cost_per_hour"] = g["count"] * g["cost_per_hour"]
    return plan


def _group(gpu: str, count: int, tp: int, inst: dict[str, Any] | None = None) -> dict[str, Any]:
    """`count` replicas of Llama-3-70B at TP `tp` on a pool of MODELED, with the cost model's figures
    (at vLLM's default batch cap), sized at full capacity."""
    problem = build(ParallelismInstance.model_validate(inst or MODELED))
    pool = next(q.index for q in problem.pools if q.name == gpu)
    c = config_at(problem, pool, tp, 1, 1, 256)
    assert c is not None
    problem.objective = "max_throughput"  # load = capacity
    return to_plan(problem, [Group(c, count)]).model_dump()["replicas"][0]


def test_inventory_and_node_packing(modeled):
    tp4 = _group("H100-SXM", 3, 4)  # 12 GPUs = the pool's count, but nodes of 6 hold one TP4 each
    plan = _resum({**copy.deepcopy(modeled), "replicas": [tp4]})
    [v] = [v for v in violations(MODELED, plan) if "does not fit in any node" in v]
    assert v.startswith("pool H100-SXM: a 4-GPU group does not fit in any node (2 nodes of 6 GPUs")
    plan = _resum({**copy.deepcopy(modeled), "replicas": [{**tp4, "count": 4}]})
    assert any("the plan uses 16 GPUs, the pool has 12" in v for v in violations(MODELED, plan))


def test_capacity_slo_and_memory_claims(modeled):
    g = modeled["replicas"][0]
    got = violations(MODELED, _edit(modeled, capacity_rps=g["capacity_rps"] * 2, load_rps=g["load_rps"]))
    assert any("above the" in v and "cost model predicts" in v for v in got)
    got = violations(MODELED, _edit(modeled, weights_gib_per_gpu=g["weights_gib_per_gpu"] - 1))
    assert any("weights_gib_per_gpu" in v for v in got)
    got = violations(MODELED, _edit(modeled, kv_tokens=g["kv_tokens"] * 2))
    assert any("kv_tokens" in v and "above the" in v for v in got)
    got = violations(MODELED, _edit(modeled, tpot_ms=g["tpot_ms"] / 2))
    assert any("tpot_ms" in v and "cost model predicts" in v for v in got)
    # a group sized past its capacity breaks the TPOT target
    slow = copy.deepcopy(MODELED)
    slow["workload"]["tpot_ms"] = 30  # TP2 decodes at ~32 ms: it cannot serve at all
    tp2 = {**_group("H100-SXM", 1, 2), "load_rps": 6.0, "capacity_rps": 6.0}
    got = violations(slow, _resum({**copy.deepcopy(modeled), "replicas": [tp2]}))
    assert any("predicted TPOT" in v and "above the 30 ms target" in v for v in got)


def test_layouts_the_model_cannot_take(modeled):
    got = violations(MODELED, _edit(modeled, tp=16, gpus_per_replica=16 * modeled["replicas"][0]["pp"]))
    assert any("spans nodes" in v for v in got)
    got = violations(MODELED, _edit(modeled, pp=3, gpus_per_replica=3 * modeled["replicas"][0]["tp"]))
    assert any("PP 3 does not divide 80 layers" in v for v in got)
    got = violations(MODELED, _edit(modeled, tp=3))
    assert any("not a power of two" in v for v in got)
    got = violations(MODELED, _edit(modeled, ep=2))
    assert any("EP 2 invalid" in v for v in got)
    got = violations(MODELED, _edit(modeled, pool="B200"))
    assert any("no pool named 'B200'" in v for v in got)


def test_demand_costs_and_totals(modeled):
    short = copy.deepcopy(modeled)
    for g in short["replicas"]:
        g["load_rps"] = g["load_rps"] / 2
    assert any(v.startswith("demand: the replicas carry") for v in violations(MODELED, short))
    got = violations(MODELED, _edit(modeled, cost_per_hour=0.01))
    assert any("is not tp x pp x the pool's price" in v for v in got)
    wrong = copy.deepcopy(modeled)
    wrong["totals"]["gpus"] += 1
    wrong["totals"]["cost_per_hour"] += 1
    got = violations(MODELED, wrong)
    assert any(v.startswith("totals:") and "GPUs" in v for v in got)
    assert any(v.startswith("totals: cost_per_hour") for v in got)


def test_bucket_slices_and_measured_capacities(bucketed):
    inst = melange()
    a10g = next(i for i, g in enumerate(bucketed["replicas"]) if g["gpu"] == "A10G")
    g = bucketed["replicas"][a10g]
    got = violations(inst, _edit(bucketed, a10g, count=g["count"] - 1))
    assert any("its slices need 3.000000 replicas, it has 2" in v for v in got)
    moved = _edit(bucketed, a10g, bucket_slices=[0, 0, 0, 0])
    assert any(
        v.startswith("bucket ") and "slices assigned, expected 1" in v for v in violations(inst, moved)
    )
    inflated = _edit(bucketed, a10g, bucket_capacity_rps=[x * 2 for x in g["bucket_capacity_rps"]])
    assert any("above the measured" in v for v in violations(inst, inflated))
    assert any(
        "not one of the measured candidates" in v for v in violations(inst, _edit(bucketed, a10g, tp=2))
    )


def test_min_latency_loads_are_on_the_level_grid():
    inst = {**MODELED, "objective": "min_latency"}
    plan = plan_of(inst)
    assert violations(inst, plan) == []
    g = plan["replicas"][0]
    off = _edit(plan, load_rps=round(g["capacity_rps"] * 0.3, 4))
    assert any("sizes replicas at k/8 of capacity" in v for v in violations(inst, off))


def test_objective_is_recomputed_from_the_plan(modeled):
    report = solver.check("parallelism", MODELED, modeled)
    expected = sum(
        g["count"] * g["tp"] * g["pp"] * {"H100-SXM": 6.5, "A100-80GB": 3.67}[g["pool"]]
        for g in modeled["replicas"]
    )
    assert report.objective == {"cost_per_hour": pytest.approx(expected, abs=1e-9)}


def test_checker_shares_no_code_with_the_formulations():
    """check.py reads the instance itself: nothing from the modules that build and solve the model."""
    import ast
    from pathlib import Path

    import solver.parallelism.check as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    ours = {m for m in imported if m.startswith("solver.")}
    assert ours == {"solver.engine.family", "solver.parallelism", "solver.parallelism.presets"}, ours
    names = {
        a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and n.module == "solver.parallelism"
        for a in n.names
    }
    assert names == {"costmodel"}  # the physics the instance refers to, nothing else


def test_the_checker_resolves_partial_nodes_and_specs_itself():
    # 9 GPUs in nodes of 6: the last node has 3, so two TP4 groups (8 GPUs) do not pack
    inst = {
        "model": {"preset": "llama-3-70b", "weight_bytes": 1},
        "workload": chat_workload(6.0),
        "inventory": [{"gpu": "H100-SXM", "count": 9, "gpus_per_node": 6, "cost_per_hour": 6.5}],
        "max_pp": 1,
    }
    problem = build(ParallelismInstance.model_validate(inst))
    c = config_at(problem, 0, 4, 1, 1, 256)
    assert c is not None and c.weights_gib == pytest.approx(63.75 / 4 + 0.489, abs=1e-3)  # FP8, TP4
    problem.objective = "max_throughput"
    one = to_plan(problem, [Group(c, 1)]).model_dump()
    assert violations(inst, one) == []
    two = _resum({**one, "replicas": [{**one["replicas"][0], "count": 2}]})
    [v] = violations(inst, two)
    assert v == (
        "pool H100-SXM: a 4-GPU group does not fit in any node (2 nodes of 6 GPUs, the last with 3, "
        "5 GPUs left in pieces of 3 or fewer)"
    )
    # the same plan in bf16: the checker's own memory arithmetic doubles it, 127.5/4 + 0.978 GiB per GPU
    bf16 = {**inst, "model": "llama-3-70b"}
    [v] = [v for v in violations(bf16, one) if "weights_gib_per_gpu" in v]
    claimed = float(v.split("but the model puts ")[1].split(" GiB")[0])
    assert claimed == pytest.approx(127.5 / 4 + 0.978, abs=2e-3)


def test_a_plan_that_fails_the_checker_is_never_returned(monkeypatch):
    """The exact engine's plan claims a TPOT below the cost model's: the portfolio discards it as a
    defect and returns the best checked plan (the baseline's), which passes the checker."""
    from solver.parallelism import exact

    real = exact.to_plan

    def optimistic(p, groups):
        plan = real(p, groups)
        for g in plan.replicas:
            g.tpot_ms = round(g.tpot_ms / 2, 3)
        return plan

    monkeypatch.setattr(exact, "to_plan", optimistic)
    for engine in ("cpsat", "ilp"):
        r = solver.solve(request(MODELED, workers=1, engine=engine))
        assert any(w.startswith(f"defect: {engine} plan failed the checker") for w in r.warnings), r.warnings
        assert r.plan is not None and r.engine == "heuristic"
        assert check(ParallelismInstance.model_validate(MODELED), r.plan).ok
