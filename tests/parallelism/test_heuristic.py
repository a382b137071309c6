"""The baselines emulate what users run: vLLM's rule (smallest TP that fits a node, else TP = GPUs per node
and PP = nodes; cheapest GPU first; max_num_seqs 256) and the best single configuration."""

from __future__ import annotations

from typing import Any

import solver
from models.parallelism import ParallelismInstance
from solver.engine.budget import Deadline
from solver.parallelism.generate import chat_workload, melange, request
from solver.parallelism.heuristic import best_single, vllm_config, vllm_rule
from solver.parallelism.problem import build


def problem(model: str, inventory: list[dict[str, Any]], rate: float = 4.0, **extra: Any):
    return build(
        ParallelismInstance.model_validate(
            {"model": model, "workload": chat_workload(rate), "inventory": inventory, **extra}
        )
    )


def test_smallest_tp_that_fits_one_node():
    p = problem("llama-3-70b", [{"gpu": "H100-SXM", "count": 8, "cost_per_hour": 6.5}])
    c = vllm_config(p, p.pools[0])
    assert (c.tp, c.pp, c.max_batch) == (2, 1, 256)
    p = problem("llama-3-8b", [{"gpu": "H100-SXM", "count": 8, "cost_per_hour": 6.5}])
    assert vllm_config(p, p.pools[0]).tp == 1


def test_tp_is_the_node_and_pp_the_nodes_when_one_node_is_too_small():
    p = problem(
        "llama-3-70b", [{"gpu": "L4", "count": 16, "gpus_per_node": 4, "cost_per_hour": 0.8}], rate=0.2
    )
    p.slo = type(p.slo)(None, None)  # the rule ignores SLOs when it picks the layout
    c = vllm_config(p, p.pools[0])
    assert (c.tp, c.pp) == (4, 2)  # 4 x 24 GiB < 131 GiB; two nodes hold it


def test_cheapest_gpu_first_then_the_next_pool():
    inventory = [
        {"gpu": "H100-SXM", "count": 64, "cost_per_hour": 6.5},
        {"gpu": "A100-80GB", "count": 8, "cost_per_hour": 3.67},
    ]
    p = problem("llama-3-70b", inventory, rate=20.0)
    groups = vllm_rule(p, Deadline(1.0))
    assert [p.pools[g.config.pool].name for g in groups] == ["A100-80GB", "H100-SXM"]
    a100 = groups[0]
    assert a100.count * a100.config.gpus == 8  # the whole cheaper pool before the next
    assert sum(g.count * g.config.mix for g in groups) >= p.demand_int


def test_best_single_config_is_homogeneous_and_cheapest_of_its_kind():
    inventory = [
        {"gpu": "H100-SXM", "count": 64, "cost_per_hour": 6.5},
        {"gpu": "A100-80GB", "count": 64, "cost_per_hour": 3.67},
    ]
    p = problem("llama-3-70b", inventory, rate=20.0)
    [g] = best_single(p, Deadline(1.0))
    for c in p.configs:
        n = -(-p.demand_int // c.mix)
        assert g.count * g.config.cost_micro <= n * c.cost_micro


def test_baselines_are_reported_and_never_beat_the_optimum():
    r = solver.solve(request(melange()))
    assert r.baseline.name == "vllm-rule" and r.baseline.objective == {"cost_per_hour": 12.12}
    inst = {
        "model": "llama-3-70b",
        "workload": chat_workload(20.0),
        "inventory": [
            {"gpu": "H100-SXM", "count": 64, "cost_per_hour": 6.5},
            {"gpu": "A100-80GB", "count": 8, "cost_per_hour": 3.67},
        ],
    }
    r = solver.solve(request(inst, workers=1))
    assert r.status == "optimal"
    assert all(b.objective["cost_per_hour"] >= r.objective["cost_per_hour"] for b in r.baselines)
