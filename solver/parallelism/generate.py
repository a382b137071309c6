"""Instances of the parallelism family: the issue's examples and seeded mixed inventories.

Prices are illustrative on-demand prices per GPU-hour, not quotes: A10G $1.01 and A100-80GB $3.67 as in
Mélange's example; L4 $0.80 (a g6.xlarge); A100-40GB $2.90, H100-SXM $6.50 and H200 $7.90 in the range of
2024 public list prices per GPU.
"""

from __future__ import annotations

import random
from typing import Any

PRICES = {"A10G": 1.01, "L4": 0.80, "A100-40GB": 2.90, "A100-80GB": 3.67, "H100-SXM": 6.50, "H200": 7.90}

# Mélange's illustrative example: a 2 x 2 histogram (rows: prompt sizes, columns: output sizes)
MELANGE_SHARES = [[0.2, 0.1], [0.5, 0.2]]
MELANGE_A10G = [[2, 1], [5, 2]]
MELANGE_A100 = [[20, 20], [40, 20]]
MELANGE_SIZES = [[(100, 100), (100, 1000)], [(1000, 100), (1000, 1000)]]


def melange(rate_rps: float = 30.0, a10g: int | None = None, a100: int | None = None) -> dict[str, Any]:
    """Mélange's example with measured capacities: optimum $6.70/h = 3 A10G + 1 A100-80GB."""
    buckets = [
        {"prompt_tokens": p, "output_tokens": o, "share": s}
        for row_sizes, row_shares in zip(MELANGE_SIZES, MELANGE_SHARES, strict=True)
        for (p, o), s in zip(row_sizes, row_shares, strict=True)
    ]
    return {
        "workload": {"rate_rps": rate_rps, "buckets": buckets},
        "inventory": [
            {"gpu": "A10G", "count": a10g, "cost_per_hour": 1.01},
            {"gpu": "A100-80GB", "count": a100, "cost_per_hour": 3.67},
        ],
        "candidates": [
            {"gpu": "A10G", "capacity_rps": [x for row in MELANGE_A10G for x in row]},
            {"gpu": "A100-80GB", "capacity_rps": [x for row in MELANGE_A100 for x in row]},
        ],
    }


def issue_example() -> dict[str, Any]:
    return {
        "model": "llama-3-70b",
        "workload": {
            "rate_rps": 2.0,
            "prompt_tokens": 1024,
            "output_tokens": 128,
            "ttft_ms": 2000,
            "tpot_ms": 100,
        },
        "inventory": [{"gpu": "H100-SXM", "count": 8, "gpus_per_node": 8, "cost_per_hour": 4.0}],
        "objective": "min_cost",
    }


def chat_workload(rate_rps: float) -> dict[str, Any]:
    """A chat-like workload: ~1k-token prompts (p90 2k), ~256-token answers (p90 512), interactive SLOs."""
    return {
        "rate_rps": rate_rps,
        "prompt_tokens": 1024,
        "output_tokens": 256,
        "prompt_tokens_p90": 2048,
        "output_tokens_p90": 512,
        "ttft_ms": 2000,
        "tpot_ms": 80,
    }


def mixed_inventory(
    model: str,
    gpu_types: list[str],
    total_gpus: int,
    rate_rps: float,
    seed: int = 0,
    objective: str = "min_cost",
) -> dict[str, Any]:
    """`total_gpus` split over the GPU types at random (seeded), whole nodes of 8 where possible."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.5, 1.5) for _ in gpu_types]
    counts = [max(1, int(total_gpus * w / sum(weights))) for w in weights]
    counts[-1] = max(1, total_gpus - sum(counts[:-1]))
    inventory = [
        {"gpu": g, "count": c, "cost_per_hour": PRICES[g]} for g, c in zip(gpu_types, counts, strict=True)
    ]
    workload = chat_workload(rate_rps)
    return {"model": model, "workload": workload, "inventory": inventory, "objective": objective}


def request(instance: dict[str, Any], **options: Any) -> dict[str, Any]:
    return {"kind": "parallelism", "instance": instance, "options": {"time_limit_s": 2.0, **options}}
