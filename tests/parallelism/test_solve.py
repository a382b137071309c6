"""End-to-end guarantees of solve() on parallelism plans: the Mélange optimum, the issue's example, every
objective and engine checked, explanations with numbers when nothing fits, budget, determinism."""

from __future__ import annotations

import pytest

from solver.parallelism.generate import chat_workload, issue_example, melange, mixed_inventory
from tests.parallelism.conftest import request, solved

FIELDS = {
    "gpu",
    "count",
    "tp",
    "pp",
    "ep",
    "max_batch",
    "ttft_ms",
    "tpot_ms",
    "capacity_rps",
    "weights_gib_per_gpu",
    "kv_tokens",
    "cost_per_hour",
}


@pytest.mark.parametrize("engine", ["cpsat", "ilp"])
def test_melange_example_optimum_is_3_a10g_and_1_a100(engine):
    r = solved(request(melange(), engine=engine, workers=1), status="optimal", engine=engine)
    assert r.objective == {"cost_per_hour": 6.70}
    assert sorted((g.gpu, g.count) for g in r.plan.replicas) == [("A100-80GB", 1), ("A10G", 3)]
    assert r.plan.totals.cost_per_hour == 6.70 and r.bound == {"cost_per_hour": 6.70}
    slices = [sum(g.bucket_slices[b] for g in r.plan.replicas) for b in range(4)]
    assert slices == [1, 1, 1, 1]
    # the single-type alternatives: the baselines, and the optimum on single-type inventories
    baselines = {b.name: b.objective["cost_per_hour"] for b in r.baselines}
    assert baselines == {"vllm-rule": 12.12, "best-single-config": 7.34}
    only_a100 = melange()
    only_a100["inventory"][0]["count"] = 0
    assert solved(request(only_a100, engine=engine), status="optimal").objective == {"cost_per_hour": 7.34}
    only_a10g = melange()
    only_a10g["inventory"][1]["count"] = 0
    assert solved(request(only_a10g, engine=engine), status="optimal").objective == {"cost_per_hour": 12.12}


def test_melange_slices_split_buckets_and_limited_pools_bind():
    finer = melange()
    finer["workload"]["slice_factor"] = 8  # bucket 3 can spill 5 req/s (3 of its 8 slices) to an A10G
    r = solved(request(finer, workers=1), status="optimal")
    assert r.objective["cost_per_hour"] < 6.70
    scarce = melange(a10g=2, a100=None)
    r = solved(request(scarce, workers=1), status="optimal")
    assert sum(g.count for g in r.plan.replicas if g.gpu == "A10G") <= 2


def test_issue_example_plan_has_every_field():
    r = solved(request(issue_example(), time_limit_s=1.0), status="optimal")
    [g] = r.plan.replicas
    assert set(g.model_dump()) >= FIELDS
    assert (g.gpu, g.count, g.tp, g.pp, g.ep) == ("H100-SXM", 1, 2, 1, 1)
    assert g.weights_gib_per_gpu == pytest.approx(65.707, abs=1e-3)
    assert g.tpot_ms <= 100 and g.ttft_ms <= 2000 and g.capacity_rps >= 2.0
    assert r.objective == {"cost_per_hour": 8.0}
    slo = r.plan.slo
    assert slo.tpot_headroom_ms == pytest.approx(100 - g.tpot_ms, abs=1e-3)
    assert slo.capacity_headroom == pytest.approx(g.capacity_rps / 2.0 - 1, abs=1e-5)
    assert r.plan.model.parameters_b == pytest.approx(70.552, abs=1e-3)


def test_heterogeneous_mix_beats_the_vllm_rule_and_is_checked():
    inst = mixed_inventory("llama-3-8b", ["L4", "A10G", "A100-80GB", "H100-SXM"], 64, rate_rps=40, seed=1)
    r = solved(request(inst, time_limit_s=2.0, workers=1), status="optimal")
    vllm = next(b for b in r.baselines if b.name == "vllm-rule")
    assert r.objective["cost_per_hour"] <= vllm.objective["cost_per_hour"]
    assert r.plan.totals.capacity_rps >= 40
    for g in r.plan.replicas:
        assert g.ttft_ms <= 2000 and g.tpot_ms <= 80


@pytest.mark.parametrize("engine", ["cpsat", "ilp", "heuristic"])
@pytest.mark.parametrize("objective", ["min_cost", "max_throughput", "min_latency"])
def test_every_objective_and_engine_gives_checked_plans(engine, objective):
    inst = mixed_inventory(
        "llama-3-70b", ["A100-80GB", "H100-SXM"], 32, rate_rps=6, seed=3, objective=objective
    )
    r = solved(request(inst, time_limit_s=1.5, engine=engine, workers=1))
    assert r.plan is not None and r.plan.replicas
    if engine != "heuristic":
        assert r.status == "optimal"
    assert list(r.objective) == list(r.objective_sense)
    if objective == "max_throughput":
        assert r.objective_sense == {"throughput_rps": "max", "cost_per_hour": "min"}
    if objective == "min_latency":
        assert r.objective["latency_ms"] == max(g.latency_ms for g in r.plan.replicas)


def test_engines_agree_on_the_mixed_fleets():
    for seed, model in ((0, "llama-3-8b"), (2, "mixtral-8x7b"), (4, "qwen2.5-32b")):
        inst = mixed_inventory(model, ["L4", "A100-40GB", "H100-SXM"], 48, rate_rps=12, seed=seed)
        a = solved(request(inst, engine="cpsat", workers=1), status="optimal")
        b = solved(request(inst, engine="ilp"), status="optimal")
        assert a.objective == b.objective


def test_mixtral_considers_expert_parallelism():
    from models.parallelism import ParallelismInstance
    from solver.parallelism.problem import build

    inst = {
        "model": "mixtral-8x7b",
        "workload": chat_workload(4.0),
        "inventory": [{"gpu": "H100-SXM", "count": 8, "cost_per_hour": 6.5}],
    }
    p = build(ParallelismInstance.model_validate(inst))
    assert {c.ep for c in p.configs} == {1, 2, 4, 8}
    r = solved(request(inst, workers=1), status="optimal")
    assert r.plan.replicas


def test_70b_on_l4_nodes_needs_pipeline_stages_across_nodes():
    inst = {
        "model": "llama-3-70b",
        "workload": {**chat_workload(0.5), "tpot_ms": 400, "ttft_ms": 10000},
        "inventory": [{"gpu": "L4", "count": 32, "gpus_per_node": 4, "cost_per_hour": 0.8}],
    }
    r = solved(request(inst, workers=1), status="optimal")
    assert all(g.tp <= 4 and g.tp * g.pp >= 8 for g in r.plan.replicas)
    vllm = next(b for b in r.baselines if b.name == "vllm-rule")
    assert vllm.feasible


def test_explicit_model_and_gpu_specs():
    inst = {
        "model": {"preset": "llama-3-70b", "weight_bytes": 1, "name": "Llama-3-70B-FP8"},
        "workload": chat_workload(1.0),
        "inventory": [
            {
                "name": "lab",
                "gpu": "X1",
                "memory_gib": 96,
                "hbm_gb_per_s": 4000,
                "dense_tflops": 800,
                "intra_node_gb_per_s": 400,
                "inter_node_gb_per_s": 50,
                "gpus_per_node": 4,
                "count": 4,
                "cost_per_hour": 5,
                "calibration": {"hbm_efficiency": 0.8},
            }
        ],
    }
    r = solved(request(inst, workers=1), status="optimal")
    assert r.plan.replicas[0].pool == "lab" and r.plan.replicas[0].gpu == "X1"
    assert r.plan.model.name == "Llama-3-70B-FP8" and r.plan.model.weights_gib == pytest.approx(
        65.71, abs=0.01
    )


def test_memory_explanation_names_the_weights_and_the_largest_node():
    inst = {
        "model": "llama-3-70b",
        "workload": chat_workload(1.0),
        "inventory": [{"gpu": "H100-SXM", "count": 1, "cost_per_hour": 6.5}],
    }
    r = solved(request(inst), status="infeasible", plan=None)
    [why] = r.explanations
    assert why.constraint == "memory"
    assert why.message.startswith(
        "Llama-3-70B bf16 needs 131 GiB of weights; largest single pool node has 80 GiB per GPU x 1 GPU"
    )
    assert why.data["weights_gib"] == pytest.approx(131.414, abs=1e-3)


def test_slo_explanation_gives_the_fastest_tpot():
    inst = {
        "model": "llama-3-70b",
        "workload": {**chat_workload(1.0), "tpot_ms": 10},
        "inventory": [{"gpu": "H100-SXM", "count": 8, "cost_per_hour": 6.5}],
    }
    r = solved(request(inst), status="infeasible")
    [why] = r.explanations
    assert why.constraint == "slo" and why.item == "workload.tpot_ms"
    assert "no configuration meets TPOT 10 ms: the fastest, H100-SXM TP8 x PP1, takes 14." in why.message


def test_capacity_explanation_gives_the_inventory_limit():
    inst = {
        "model": "llama-3-70b",
        "workload": chat_workload(100.0),
        "inventory": [{"gpu": "H100-SXM", "count": 16, "cost_per_hour": 6.5}],
    }
    r = solved(request(inst), status="infeasible")
    [why] = r.explanations
    assert why.constraint == "capacity" and why.data["max_rps"] < 100
    assert why.message.startswith("the inventory serves at most ")
    assert "below the 100 req/s asked: H100-SXM: 16 GPUs x " in why.message


def test_packing_infeasibility_only_the_engine_proves_is_explained():
    # one node of 6 GPUs; at TPOT 30 ms only TP4 serves Llama-3-70B (TP2 decodes at ~32 ms): one replica
    # packs, the 2 GPUs left cannot hold a second although the GPU count would carry the rate
    inst = {
        "model": "llama-3-70b",
        "workload": {**chat_workload(4.0), "tpot_ms": 30, "ttft_ms": 5000},
        "inventory": [{"gpu": "H100-SXM", "count": 6, "gpus_per_node": 6, "cost_per_hour": 6.5}],
        "max_pp": 1,
    }
    for engine, name in (("cpsat", "CP-SAT"), ("ilp", "the ILP")):
        r = solved(request(inst, engine=engine), status="infeasible", plan=None)
        [why] = r.explanations
        assert why.constraint == "packing"
        assert why.message.startswith(
            f"{name} proved that no mix of the 1 candidate configurations serves 4 req/s"
        )
        assert "ignoring the packing, up to 5.145 req/s" in why.message
    inst["workload"]["rate_rps"] = 3.0
    r = solved(request(inst), status="optimal")
    assert [(g.tp, g.count) for g in r.plan.replicas] == [(4, 1)]


def test_unused_pools_are_explained():
    inst = {
        "model": "llama-3-70b",
        "workload": chat_workload(1.0),
        "inventory": [
            {"gpu": "H100-SXM", "count": 8, "cost_per_hour": 6.5},
            {"gpu": "A10G", "count": 2, "gpus_per_node": 2, "cost_per_hour": 1.01},
        ],
    }
    r = solved(request(inst, workers=1), status="optimal")
    [why] = r.explanations
    assert why.item == "A10G" and why.constraint == "memory"
    assert why.message.startswith("pool A10G is not used: no configuration fits memory")


def test_budget_determinism_and_progress():
    inst = mixed_inventory("llama-3-8b", ["L4", "A10G", "A100-80GB", "H100-SXM"], 1024, rate_rps=400, seed=5)
    req = request(inst, time_limit_s=1.0, workers=1, seed=3, return_progress=True)
    a = solved(req)
    b = solved(req)
    assert a.plan == b.plan and a.objective == b.objective
    assert a.progress and a.progress[-1].objective == a.objective
    solved(request(inst, time_limit_s=0.2))


def test_proven_optimal_baseline_skips_the_search():
    # one pool, one configuration that meets the SLOs: the heuristic plan meets the LP bound
    inst = {
        "workload": {"rate_rps": 10},
        "inventory": [{"gpu": "A10G", "count": None, "cost_per_hour": 1.0}],
        "candidates": [{"gpu": "A10G", "capacity_rps": 2.5}],
    }
    r = solved(request(inst), status="optimal", engine="heuristic")
    assert r.objective == {"cost_per_hour": 4.0} and r.stats.solve_s == 0.0


def test_tp_across_nodes_only_when_allowed():
    inst = {
        "model": "llama-3-70b",
        "workload": chat_workload(2.0),
        "inventory": [{"gpu": "A100-40GB", "count": 16, "gpus_per_node": 2, "cost_per_hour": 2.9}],
        "max_pp": 1,
    }
    r = solved(request(inst), status="infeasible")  # 2 x 40 GiB per node, no pipeline: nothing fits
    assert r.explanations[0].constraint == "memory"
    r = solved(request({**inst, "tp_across_nodes": True}, workers=1), status="optimal")
    assert all(g.tp >= 4 and g.tp % 2 == 0 for g in r.plan.replicas)


def test_headroom_sizes_for_more_and_no_slo_means_memory_bound():
    base = {
        "model": "llama-3-70b",
        "workload": chat_workload(7.0),
        "inventory": [{"gpu": "H100-SXM", "count": 16, "cost_per_hour": 6.5}],
    }
    plain = solved(request(base, workers=1), status="optimal")
    roomy = {**base, "workload": {**base["workload"], "headroom": 0.5}}
    r = solved(request(roomy, workers=1), status="optimal")
    assert r.plan.totals.demand_rps == 10.5 and r.plan.totals.capacity_rps >= 10.5
    assert r.objective["cost_per_hour"] > plain.objective["cost_per_hour"]
    free = {**base, "workload": {**base["workload"], "ttft_ms": None, "tpot_ms": None}}
    r = solved(request(free, workers=1), status="optimal")
    assert r.plan.slo.ttft_headroom_ms is None and r.plan.replicas[0].tpot_ms > 0


def test_cli_solves_a_shipped_request_file():
    from typer.testing import CliRunner

    from service.cli import app
    from tests.parallelism.test_instances import INSTANCES

    result = CliRunner().invoke(app, ["solve", str(INSTANCES / "melange.json"), "--workers", "1"])
    assert result.exit_code == 0, result.stderr
    body = __import__("json").loads(result.stdout)
    assert body["kind"] == "parallelism" and body["status"] == "optimal"
    assert body["objective"] == {"cost_per_hour": 6.7}


def test_slo_explanation_when_no_configuration_meets_both_targets():
    def pool(name: str, hbm: float, tflops: float) -> dict:
        return {
            "name": name,
            "gpu": name,
            "memory_gib": 80,
            "hbm_gb_per_s": hbm,
            "dense_tflops": tflops,
            "intra_node_gb_per_s": 400,
            "inter_node_gb_per_s": 50,
            "gpus_per_node": 1,
            "count": 1,
            "cost_per_hour": 1,
        }

    # one GPU decodes fast and prefills slowly, the other the reverse: each target is met by one of them
    inst = {
        "model": "llama-3-8b",
        "workload": {**chat_workload(1.0), "ttft_ms": 150, "tpot_ms": 12},
        "inventory": [pool("decoder", 8000, 60), pool("prefiller", 600, 3000)],
        "max_pp": 1,
    }
    r = solved(request(inst), status="infeasible", plan=None)
    [why] = r.explanations
    assert why.item == "workload" and why.constraint == "slo"
    assert why.message.startswith("no configuration meets TTFT 150 ms and TPOT 12 ms together: the fastest ")
    assert why.data["fastest_decoder"]["pool"] == "decoder" and why.data["fastest_decoder"]["tpot_ms"] < 12
    assert why.data["fastest_prefill"]["pool"] == "prefiller" and why.data["fastest_prefill"]["ttft_ms"] < 150
    assert why.data["fastest_decoder"]["ttft_ms"] > 150 and why.data["fastest_prefill"]["tpot_ms"] > 12


def test_an_empty_inventory_is_explained_as_such():
    inst = {
        "model": "llama-3-70b",
        "workload": chat_workload(1.0),
        "inventory": [{"gpu": "H100-SXM", "count": 0, "cost_per_hour": 6.5}],
    }
    r = solved(request(inst), status="infeasible", plan=None)
    [why] = r.explanations
    assert (why.item, why.constraint) == ("inventory", "capacity")
    assert why.message == "the inventory has no GPUs: every pool has count 0 (H100-SXM)"


def test_each_group_says_what_limits_its_capacity():
    r = solved(request(issue_example(), time_limit_s=1.0), status="optimal")
    [g] = r.plan.replicas
    # TP2 on 80 GiB: 65.7 GiB of weights leave KV room for ~25 requests of 1152 tokens
    assert g.limited_by == ["kv"] and g.max_batch == g.kv_tokens // (1024 + 128)
    tight = issue_example()
    tight["workload"]["tpot_ms"] = 25  # only TP4 and TP8 decode this fast; TP4 at its TPOT limit
    r = solved(request(tight, time_limit_s=1.0), status="optimal")
    assert [(g.tp, g.limited_by) for g in r.plan.replicas] == [(4, ["tpot"])]
    assert r.plan.replicas[0].tpot_ms <= 25
    measured = solved(request(melange(), workers=1), status="optimal")
    assert all(g.limited_by is None for g in measured.plan.replicas)
