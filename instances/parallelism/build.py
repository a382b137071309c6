"""Regenerate the parallelism instances of this folder and its MANIFEST.json, deterministically.

    .venv/bin/python -m instances.parallelism.build
    (or: .venv/bin/python instances/parallelism/build.py)

Every file is a SolveRequest built by solver.parallelism.generate. Known values: Mélange's published
optimum for its example; for every file the baselines and what CP-SAT reaches and proves in SOLVE_S
seconds with 2 workers (and the exhaustive search's optimum where it finishes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))

SOLVE_S = 10.0
OPTIONS = {"time_limit_s": 1.0}
MELANGE_CITATION = (
    'T. Griggs, X. Liu, J. Yu, D. Kim, W.-L. Chiang, A. Cheung, I. Stoica (2024), "Mélange: Cost Efficient '
    'Large Language Model Serving by Exploiting GPU Heterogeneity", arXiv:2404.14527'
)


def instances() -> list[dict[str, Any]]:
    from solver.parallelism.generate import issue_example, melange, mixed_inventory

    return [
        {
            "name": "melange",
            "instance": melange(),
            "source": "Mélange's illustrative example (measured req/s per bucket for A10G and A100-80GB)",
            "citation": MELANGE_CITATION,
            "description": "A 2 x 2 request-size histogram at 30 req/s; each bucket whole to one GPU type.",
            "optimum": {"cost_per_hour": 6.70},
        },
        {
            "name": "llama-3-70b-8xh100",
            "instance": issue_example(),
            "source": "issue 5's request example",
            "citation": None,
            "description": "Llama-3-70B at 2 req/s (1024 prompt, 128 output tokens), TTFT 2 s, TPOT 100 ms, "
            "one 8 x H100 node at $4/GPU-hour.",
        },
        {
            "name": "llama-3-8b-mixed-fleet",
            "instance": mixed_inventory(
                "llama-3-8b", ["L4", "A10G", "A100-80GB", "H100-SXM"], 64, 40.0, seed=1
            ),
            "source": "solver.parallelism.generate.mixed_inventory(seed=1)",
            "citation": None,
            "description": "Llama-3-8B chat traffic (1k/256 tokens, p90 2k/512) at 40 req/s on 64 GPUs of "
            "four types.",
        },
        {
            "name": "llama-3-70b-two-types",
            "instance": mixed_inventory("llama-3-70b", ["A100-80GB", "H100-SXM"], 256, 60.0, seed=7),
            "source": "solver.parallelism.generate.mixed_inventory(seed=7)",
            "citation": None,
            "description": "Llama-3-70B chat traffic at 60 req/s on 256 A100-80GB and H100 GPUs.",
        },
    ]


def known(instance: dict[str, Any]) -> dict[str, Any]:
    import solver
    from models.parallelism import ParallelismInstance
    from solver.parallelism import bruteforce
    from solver.parallelism.problem import build

    r = solver.solve(
        {"kind": "parallelism", "instance": instance, "options": {"time_limit_s": SOLVE_S, "workers": 2}}
    )
    out: dict[str, Any] = {b.name: b.objective for b in r.baselines}
    out["cpsat_10s_2_workers"] = {"objective": r.objective, "status": r.status.value, "bound": r.bound}
    try:
        ref = bruteforce.solve(build(ParallelismInstance.model_validate(instance)), time_limit_s=60)
        out["brute_force"] = ref.objective
    except bruteforce.BruteForceTimeout:
        out["brute_force"] = "did not finish in 60 s"
    return out


def main() -> None:
    entries = []
    for spec in instances():
        request = {"kind": "parallelism", "instance": spec["instance"], "options": OPTIONS}
        path = HERE / f"{spec['name']}.json"
        path.write_text(json.dumps(request, indent=1) + "\n")
        inventory = spec["instance"]["inventory"]
        entry = {
            "name": spec["name"],
            "file": path.name,
            "cli": f"schedopt solve instances/parallelism/{path.name}",
            "source": spec["source"],
            "citation": spec["citation"],
            "description": spec["description"],
            "sizes": {
                "pools": len(inventory),
                "gpus": sum(p["count"] or 0 for p in inventory) or None,
                "candidates": len(spec["instance"].get("candidates") or []),
            },
            "known": known(spec["instance"]),
        }
        if "optimum" in spec:
            entry["known"]["optimum"] = spec["optimum"]
        entries.append(entry)
    manifest = {
        "family": "parallelism",
        "regenerate": ".venv/bin/python -m instances.parallelism.build",
        "format": "each file is a SolveRequest: {kind, instance, options}",
        "known_values": "optimum: published (Mélange). vllm-rule / best-single-config: the family's "
        "baselines. cpsat_10s_2_workers: solver.solve with engine auto, 10 s and 2 workers (status "
        "optimal = proven). "
        "brute_force: solver.parallelism.bruteforce (exhaustive over replica mixes).",
        "instances": entries,
    }
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
