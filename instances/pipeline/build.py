"""Regenerate the pipeline instances of this folder and its MANIFEST.json, deterministically.

    .venv/bin/python -m instances.pipeline.build        (or: .venv/bin/python instances/pipeline/build.py)

The profiles are byte-identical copies from ../shared/data (kept as they are when ../shared is absent):
PipeDream's vgg16 and gnmt graph.txt, PipeEdge's four YAML files. The JSON files are SolveRequests read
from them (or from solver.pipeline.generate with seed 0), and a device-set file for `--devices`. Known
values: every baseline (PipeDream's DP, PipeEdge's DP, the greedy split) and what the exact engine reaches
and proves in SOLVE_S seconds with 2 workers.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))
SHARED = ROOT / ".." / "shared" / "data"

SOLVE_S = 10.0
PIPEDREAM_CITATION = (
    'D. Narayanan et al. (2019), "PipeDream: Generalized Pipeline Parallelism for DNN Training", SOSP 2019'
)
PIPEDREAM_SOURCE = (
    "msr-fiddle/pipedream, profiler/.../profiles/<model>/graph.txt, commit "
    "7db6a1c3e64996d5b319faec6ca38cb31bfea1c4 (MIT); copied from ../shared/data/pipedream_profiles"
)
PIPEEDGE_CITATION = (
    'Y. Hu et al. (2022), "PipeEdge: Pipeline Parallelism for Large-Scale Model Inference on Heterogeneous '
    'Edge Devices", DSD 2022 (arXiv 2110.14895)'
)
PIPEEDGE_SOURCE = (
    "usc-isi/PipeEdge, README_Scheduler.md YAML examples, commit 1a68bbb415d9d4ba755f8a0c2084115a495ba1d1 "
    "(BSD-3); copied from ../shared/data/pipeedge_profiles; devices.yml's RCC-VE-C2558 read as the profiled "
    "RCC-VE-C2000"
)
DEVICE_SET = {
    "devices": [
        {"name": "a100-0", "type": "a100", "memory_bytes": 40 * 2**30},
        {"name": "a100-1", "type": "a100", "memory_bytes": 40 * 2**30},
        {"name": "v100-0", "type": "v100", "memory_bytes": 16 * 2**30},
        {"name": "v100-1", "type": "v100", "memory_bytes": 16 * 2**30},
        {"name": "v100-2", "type": "v100", "memory_bytes": 16 * 2**30},
        {"name": "v100-3", "type": "v100", "memory_bytes": 16 * 2**30},
    ],
    "network": {
        "links": [
            {"a": "a100-0", "b": "a100-1", "bandwidth_gbps": 600.0},
            {"a": "v100-0", "b": "v100-1", "bandwidth_gbps": 300.0},
            {"a": "v100-2", "b": "v100-3", "bandwidth_gbps": 300.0},
            {"a": "a100-0", "b": "v100-0", "bandwidth_gbps": 25.0, "latency_ms": 0.01},
            {"a": "v100-1", "b": "v100-2", "bandwidth_gbps": 25.0, "latency_ms": 0.01},
            {"a": "a100-1", "b": "v100-3", "bandwidth_gbps": 25.0, "latency_ms": 0.01},
        ]
    },
    "speedup": {"v100": 1.0, "a100": 2.2},
}


def _copy(src: Path, dst: Path) -> None:
    if src.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)


def _request(instance: Any, time_limit_s: float = 2.0) -> dict[str, Any]:
    return {
        "kind": "pipeline",
        "instance": instance.model_dump(mode="json", exclude_defaults=True),
        "options": {"time_limit_s": time_limit_s},
    }


def example_request() -> dict[str, Any]:
    """The API example (service/api/examples.py): ViT-Base's first 8 layers on three Minnowboards and one
    RCC host, throughput."""
    from service.api.examples import PIPELINE_EXAMPLE

    return json.loads(json.dumps(PIPELINE_EXAMPLE))


def requests() -> dict[str, dict[str, Any]]:
    from solver.pipeline.formats import device_set, read_pipedream, read_pipeedge_dir
    from solver.pipeline.generate import synthetic

    out = {}
    for model, name, objective in (
        ("google/vit-large-patch16-224", "edge-vit-large.json", "throughput"),
        ("google/vit-base-patch16-224", "edge-vit-base-pareto.json", "pareto"),
    ):
        inst, _ = read_pipeedge_dir(HERE / "pipeedge", model=model, objective=objective)
        out[name] = _request(inst, 5.0 if objective == "pareto" else 2.0)
    devices, network, speedup = device_set(DEVICE_SET)
    vgg = (HERE / "vgg16.graph.txt").read_text()
    out["vgg16-6gpu-training.json"] = _request(
        read_pipedream(vgg, devices, network, speedup, mode="training", microbatches=4), 2.0
    )
    out["hetero-100x16.json"] = _request(synthetic(layers=100, counts=(4, 4, 4, 4), seed=0), 1.0)
    out["example.json"] = example_request()
    return out


def known(req: dict[str, Any]) -> dict[str, Any]:
    import solver
    from solver.engine.budget import Deadline
    from solver.pipeline import FAMILY, heuristic

    inst = FAMILY.instance_model.model_validate(req["instance"])
    p = FAMILY.prepare(inst)
    values: dict[str, Any] = {}
    for run in heuristic.run_all(p, Deadline(req["options"]["time_limit_s"])):
        chosen = heuristic.best_of(p, run, "throughput")
        values[run.name] = (
            {"bottleneck_ms": chosen.bottleneck, "latency_ms": chosen.latency}
            if chosen
            else run.note or "no plan"
        )
    res = solver.solve({**req, "options": {"time_limit_s": SOLVE_S, "workers": 2}})
    values[f"exact_{SOLVE_S:g}s_2_workers"] = {
        "status": res.status,
        "method": res.method,
        "objective": res.objective,
        "bound": res.bound,
    }
    if res.plan is not None and hasattr(res.plan, "plans"):
        values[f"exact_{SOLVE_S:g}s_2_workers"]["front"] = [
            [sp.objective.bottleneck_ms, sp.objective.latency_ms] for sp in res.plan.plans
        ]
    return values


def main() -> None:
    _copy(SHARED / "pipedream_profiles" / "vgg16.graph.txt", HERE / "vgg16.graph.txt")
    _copy(SHARED / "pipedream_profiles" / "gnmt.graph.txt", HERE / "gnmt.graph.txt")
    for name in ("models.yml", "device_types.yml", "devices.yml", "example_schedule.yml"):
        _copy(SHARED / "pipeedge_profiles" / name, HERE / "pipeedge" / name)
    (HERE / "devices-hetero.json").write_text(json.dumps(DEVICE_SET, indent=1) + "\n")
    entries: list[dict[str, Any]] = [
        {
            "name": "vgg16.graph.txt",
            "file": "vgg16.graph.txt",
            "format": "pipedream",
            "cli": "schedopt solve instances/pipeline/vgg16.graph.txt --format pipedream --devices 4 "
            "--memory-gib 16 --bandwidth-gbps 25 --mode training --microbatches 4",
            "source": PIPEDREAM_SOURCE,
            "citation": PIPEDREAM_CITATION,
        },
        {
            "name": "gnmt.graph.txt",
            "file": "gnmt.graph.txt",
            "format": "pipedream",
            "cli": "schedopt solve instances/pipeline/gnmt.graph.txt --format pipedream "
            "--devices instances/pipeline/devices-hetero.json",
            "source": PIPEDREAM_SOURCE,
            "citation": PIPEDREAM_CITATION,
        },
        {
            "name": "pipeedge",
            "file": "pipeedge/",
            "format": "pipeedge",
            "cli": "schedopt solve instances/pipeline/pipeedge --format pipeedge --model "
            "google/vit-large-patch16-224",
            "source": PIPEEDGE_SOURCE,
            "citation": PIPEEDGE_CITATION,
        },
        {
            "name": "devices-hetero.json",
            "file": "devices-hetero.json",
            "format": "device set",
            "cli": "--devices instances/pipeline/devices-hetero.json",
            "source": "hand-written: two A100 and four V100 in NVLink pairs joined by 25 Gbps links; "
            "A100 2.2x "
            "the profiled V100",
        },
    ]
    for name, req in requests().items():
        (HERE / name).write_text(json.dumps(req, indent=1) + "\n")
        inst = req["instance"]
        entries.append(
            {
                "name": name.removesuffix(".json"),
                "file": name,
                "format": "SolveRequest",
                "cli": f"schedopt solve instances/pipeline/{name}",
                "source": PIPEEDGE_SOURCE + " (the API example: ViT-Base's first 8 layers, times rounded)"
                if name == "example.json"
                else PIPEEDGE_SOURCE
                if name.startswith("edge")
                else PIPEDREAM_SOURCE
                if name.startswith("vgg")
                else "solver.pipeline.generate.synthetic(layers=100, counts=(4, 4, 4, 4), seed=0)",
                "sizes": {"layers": len(inst["layers"]), "devices": len(inst["devices"])},
                "objective": inst.get("objective", "throughput"),
                "known": known(req),
            }
        )
    manifest = {
        "family": "pipeline",
        "regenerate": ".venv/bin/python -m instances.pipeline.build",
        "formats": {
            "pipedream": "graph.txt of PipeDream's profiler: nodes with fwd/bwd ms, activation and parameter "
            "bytes, then edges; Input nodes dropped, layers in topological order",
            "pipeedge": "PipeEdge's scheduler YAML (models.yml, device_types.yml, devices.yml); MB = 2^20 B, "
            "Mbps = 2^20 bit/s as in its schedule.cpp",
            "device set": '{"devices": [...], "network": {...}, "speedup": {type: factor}} for --devices',
            "SolveRequest": "{kind: pipeline, instance, options}",
        },
        "known_values": "pipedream-dp / pipeedge-dp / greedy-balanced: the family's baselines (their "
        f"throughput plans); exact_*: solver.solve with engine auto, {SOLVE_S:g} s and 2 workers (status "
        "optimal = proven).",
        "instances": entries,
    }
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
