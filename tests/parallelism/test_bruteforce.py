"""The optimizer equals the exhaustive search (solver.parallelism.bruteforce) on every small inventory of a
grid, on random irregular inventories (partial nodes, odd node sizes), and on random measured histograms
(Mélange's per-bucket assignment); infeasible exactly when the brute force finds nothing."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

import solver
from models.parallelism import ParallelismInstance
from solver.parallelism import bruteforce
from solver.parallelism.generate import chat_workload, request
from solver.parallelism.problem import build

PRICES = {"L4": 0.8, "A10G": 1.01, "A100-40GB": 2.9, "A100-80GB": 3.67, "H100-SXM": 6.5}


def agrees(inst: dict[str, Any], engine: str = "cpsat") -> bool:
    """True when the optimizer's answer is the brute force's; False with the reason printed."""
    p = build(ParallelismInstance.model_validate(inst))
    expected = bruteforce.solve(p, time_limit_s=30).objective
    r = solver.solve(request(inst, time_limit_s=5, workers=1, engine=engine))
    if expected is None:
        ok = r.status == "infeasible" and r.plan is None and bool(r.explanations)
    else:
        ok = r.status == "optimal" and r.objective == expected
        ok = ok and solver.check("parallelism", inst, r.plan).ok
    if not ok:
        print(inst["inventory"], inst["objective"], expected, r.status, r.objective, r.warnings)
    return ok


def grid(
    model: str, types: list[str], counts: list[int], objective: str, rate: float, gpn: int = 4
) -> list[dict]:
    out = []
    for combo in itertools.product(counts, repeat=len(types)):
        if not any(combo):
            continue
        inventory = [
            {"gpu": g, "count": c, "gpus_per_node": gpn, "cost_per_hour": PRICES[g]}
            for g, c in zip(types, combo, strict=True)
            if c
        ]
        out.append(
            {"model": model, "workload": chat_workload(rate), "inventory": inventory, "objective": objective}
        )
    return out


GRIDS = {
    # every inventory of up to 8 GPUs each of L4, A100-80GB and H100 (nodes of 4), at two rates
    "8b-cost-40": (("llama-3-8b", ["L4", "A100-80GB", "H100-SXM"], [0, 2, 4, 8], "min_cost", 40.0), "cpsat"),
    "8b-cost-120": (("llama-3-8b", ["L4", "A100-80GB", "H100-SXM"], [0, 2, 4, 8], "min_cost", 120.0), "ilp"),
    # 70B over nodes of 4: pipeline stages across nodes
    "70b-cost": (("llama-3-70b", ["A100-80GB", "H100-SXM"], [0, 4, 8, 12, 16], "min_cost", 8.0), "cpsat"),
    "mixtral-cost": (("mixtral-8x7b", ["A100-40GB", "H100-SXM"], [0, 4, 8, 12], "min_cost", 30.0), "cpsat"),
    "8b-throughput": (
        ("llama-3-8b", ["L4", "A100-80GB", "H100-SXM"], [0, 2, 4], "max_throughput", 0.0),
        "cpsat",
    ),
    "70b-latency": (("llama-3-70b", ["A100-80GB", "H100-SXM"], [0, 4, 8], "min_latency", 4.0), "cpsat"),
    "8b-latency": (("llama-3-8b", ["L4", "H100-SXM"], [0, 2, 4], "min_latency", 10.0), "ilp"),
}


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_optimizer_equals_brute_force_on_every_small_inventory(name):
    args, engine = GRIDS[name]
    cases = grid(*args)
    failed = [i for i, inst in enumerate(cases) if not agrees(inst, engine)]
    assert not failed, f"{len(failed)} of {len(cases)} inventories differ: {failed}"


def irregular(seed: int) -> dict[str, Any]:
    """1-3 pools with odd node sizes and partial last nodes, a random objective and rate."""
    rng = random.Random(seed)
    model = rng.choice(["llama-3-8b", "llama-3-8b", "qwen2.5-32b", "mixtral-8x7b"])
    types = rng.sample(["L4", "A10G", "A100-40GB", "A100-80GB", "H100-SXM"], rng.randint(1, 3))
    inventory = []
    for g in types:
        gpn = rng.choice([2, 4, 6, 8])
        inventory.append(
            {
                "gpu": g,
                "count": rng.randint(1, 10),
                "gpus_per_node": gpn,
                "cost_per_hour": round(PRICES[g] * rng.uniform(0.7, 1.3), 2),
            }
        )
    objective = rng.choice(["min_cost", "min_cost", "max_throughput"])
    rate = round(rng.uniform(2, 40), 1)
    workload = {**chat_workload(rate), "tpot_ms": rng.choice([60, 100, 200])}
    return {"model": model, "workload": workload, "inventory": inventory, "objective": objective}


@pytest.mark.parametrize("seed", range(24))
def test_optimizer_equals_brute_force_on_irregular_inventories(seed):
    assert agrees(irregular(seed), "cpsat" if seed % 3 else "ilp")


def measured(seed: int) -> dict[str, Any]:
    """A Mélange-style instance: 2-3 GPU types with measured capacities on a 2-4 bucket histogram."""
    rng = random.Random(seed)
    n_buckets = rng.randint(2, 4)
    raw = [rng.uniform(0.1, 1) for _ in range(n_buckets)]
    shares = [round(x / sum(raw), 4) for x in raw]
    shares[-1] = round(1 - sum(shares[:-1]), 4)
    types = rng.sample(["L4", "A10G", "A100-80GB", "H100-SXM"], rng.randint(2, 3))
    inventory, candidates = [], []
    for g in types:
        count = rng.choice([None, None, 4, 8])
        inventory.append({"gpu": g, "count": count, "gpus_per_node": 4, "cost_per_hour": PRICES[g]})
        scale = {"L4": 1, "A10G": 1.5, "A100-80GB": 6, "H100-SXM": 12}[g]
        candidates.append(
            {"gpu": g, "capacity_rps": [round(scale * rng.uniform(0.5, 4), 1) for _ in range(n_buckets)]}
        )
        if rng.random() < 0.5:
            candidates.append(
                {
                    "gpu": g,
                    "tp": 2,
                    "capacity_rps": [round(2.1 * c, 1) for c in candidates[-1]["capacity_rps"]],
                }
            )
    buckets = [
        {"prompt_tokens": 100 * (b + 1), "output_tokens": 50 * (b + 1), "share": s}
        for b, s in enumerate(shares)
    ]
    return {
        "workload": {
            "rate_rps": round(rng.uniform(5, 40), 1),
            "buckets": buckets,
            "slice_factor": rng.choice([1, 2]),
        },
        "inventory": inventory,
        "candidates": candidates,
        "objective": "min_cost",
    }


@pytest.mark.parametrize("seed", range(30))
def test_optimizer_equals_brute_force_on_measured_histograms(seed):
    assert agrees(measured(seed), "cpsat" if seed % 2 else "ilp")
