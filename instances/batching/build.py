"""Regenerate the batching instances of this folder and its MANIFEST.json, deterministically.

    .venv/bin/python -m instances.batching.build        (or: .venv/bin/python instances/batching/build.py)

example.json is the hand-worked step of the OpenAPI example (service/api/examples.py); azure-*.json are
heavy-load steps drawn from the Azure LLM inference trace (../shared/data/azure_llm_2023) by
solver.batching.generate.azure_step; tiny.json a small random step with every rule. Known values: each
baseline's score (and whether it passes the instance's guard), and what the guarded greedy and CP-SAT
reach and prove in SOLVE_S seconds with one worker.
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

OPTIONS = {"time_limit_s": 0.05}
SOLVE_S = 1.0
AZURE = {"azure-200x64": (200, 64, 0), "azure-1000x256": (1000, 256, 0)}
TRACE_SOURCE = (
    "Azure/AzurePublicDataset, data/AzureLLMInferenceTrace_conv.csv (snapshot commit "
    "b469a113cedca53ddc3bdea71a143dc4b7d8700c), CC-BY 4.0; via ../shared/data/azure_llm_2023"
)
TRACE_CITATION = (
    'P. Patel, E. Choukse, C. Zhang, A. Shah, I. Goiri, S. Maleki, R. Bianchini, "Splitwise: Efficient '
    'generative LLM inference using phase splitting", ISCA 2024'
)


def known_values(request: dict[str, Any]) -> dict[str, Any]:
    import solver

    req = {**request, "options": {"time_limit_s": SOLVE_S, "workers": 1, "seed": 0}}
    r = solver.solve(req)
    return {
        "baselines": {
            b.name: {"score": b.objective["score"], "passes_guard": b.feasible} for b in r.baselines
        },
        f"auto_{SOLVE_S:g}s_1_worker": {
            "score": r.objective.get("score"),
            "status": r.status.value,
            "engine": r.engine,
            "bound": r.bound,
            "admitted": len(r.plan.admit) if r.plan else None,
        },
    }


def sizes(instance: Any) -> dict[str, int]:
    return {
        "running": len(instance.running),
        "waiting": len(instance.waiting),
        "kv_capacity_tokens": instance.kv_capacity_tokens,
        "scenarios": instance.policy.scenarios,
        "history": len(instance.history_output_tokens),
    }


def write(name: str, request: dict[str, Any]) -> None:
    (HERE / f"{name}.json").write_text(json.dumps(request, indent=1) + "\n")
    print(f"wrote {name}.json")


def build() -> dict[str, Any]:
    from models.batching import BatchingInstance
    from service.api.examples import BATCHING_EXAMPLE
    from solver.batching.generate import azure_step, tiny_step

    entries: list[dict[str, Any]] = []
    example = json.loads(json.dumps(BATCHING_EXAMPLE))
    write("example", example)
    entries.append(
        {
            "name": "example",
            "file": "example.json",
            "cli": "schedopt solve instances/batching/example.json",
            "source": "hand-written: the OpenAPI example of POST /v1/solve (service/api/examples.py); "
            "numbers worked by hand in tests/batching/test_check.py",
            "sizes": sizes(BatchingInstance.model_validate(example["instance"])),
            "known": {"optimum": {"score": 2990.0}, **known_values(example)},
        }
    )
    for name, (waiting, running, seed) in AZURE.items():
        try:
            inst = azure_step(waiting=waiting, running=running, seed=seed)
        except FileNotFoundError as exc:
            print(f"warning: {exc}; {name}.json kept as it is", file=sys.stderr)
            continue
        request = {
            "kind": "batching",
            "instance": inst.model_dump(mode="json", exclude_defaults=True),
            "options": OPTIONS,
        }
        write(name, request)
        entries.append(
            {
                "name": name,
                "file": f"{name}.json",
                "cli": f"schedopt solve instances/batching/{name}.json",
                "source": TRACE_SOURCE,
                "citation": TRACE_CITATION,
                "generator": "solver.batching.generate.azure_step",
                "seed": seed,
                "description": f"{running} requests part-way through their outputs (true lengths hidden), "
                f"the next {waiting} arrivals at 4x the trace's rate with TTFT deadlines 2 s after arrival, "
                "the 200 output lengths before them as history; capacity: the running KV plus 25%",
                "sizes": sizes(inst),
                "known": known_values(request),
            }
        )
    inst = tiny_step(0)
    request = {
        "kind": "batching",
        "instance": inst.model_dump(mode="json", exclude_defaults=True),
        "options": OPTIONS,
    }
    write("tiny", request)
    entries.append(
        {
            "name": "tiny",
            "file": "tiny.json",
            "cli": "schedopt solve instances/batching/tiny.json",
            "source": "generator",
            "generator": "solver.batching.generate.tiny_step",
            "seed": 0,
            "sizes": sizes(inst),
            "known": known_values(request),
        }
    )
    return {
        "family": "batching",
        "regenerate": ".venv/bin/python -m instances.batching.build",
        "format": "each file is a SolveRequest: {kind, instance, options}",
        "known_values": "baselines: each heuristic's score and whether it passes the instance's guard (the "
        "baselines do not look ahead, so vLLM's plan usually breaks it). auto_*: solver.solve with engine "
        f"auto (CP-SAT), {SOLVE_S:g} s and one worker; status optimal = proven.",
        "instances": entries,
    }


def main() -> None:
    manifest = build()
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print("wrote MANIFEST.json")


if __name__ == "__main__":
    main()
