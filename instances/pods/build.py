"""Regenerate the generated pods instances of this folder and its MANIFEST.json, deterministically.

    .venv/bin/python -m instances.pods.build        (or: .venv/bin/python instances/pods/build.py)

small.json is hand-written (the README's tour) and only read here, for its manifest entry. The paper-grid
files come from solver.pods.generate.paper_instance with the first seed where the default scheduler
without preemption leaves a pod pending. The alibaba files are snapshots of the Alibaba GPU trace 2023
(solver.pods.trace.alibaba_snapshot), read from ../shared/data/alibaba-gpu-2023 or $SCHEDOPT_ALIBABA_DIR;
when the trace is absent, the existing alibaba files and their manifest entries are kept as they are.

Known values in the manifest are the kube-scheduler emulation's results (solver.pods.heuristic.kube_default),
with and without preemption: placed pods per priority, pods left pending, evictions and moves.
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

MAX_BYTES = 3_000_000  # larger snapshots are not shipped; benchmarks build them from ../shared at run time
OPTIONS = {"time_limit_s": 1.0}
MAX_SEED = 200

PAPER_SOURCE = "paper-grid generator"
PAPER_REFERENCE = (
    'Christensen, Giallorenzo, Mauro, "Priority Matters" (2025): ReplicaSets of 1-4 replicas, cpu and memory '
    "uniform in 100-1000, priorities uniform in 1..k, identical nodes sized to the target utilisation"
)
PAPER_SELECTION = "first seed where kube-default without preemption leaves a pod pending"
PAPER = [
    ("paper-n16-p8-k4-u100", {"n_nodes": 16, "pods_per_node": 8, "priorities": 4, "util": 1.00}),
    ("paper-n64-p8-k4-u105", {"n_nodes": 64, "pods_per_node": 8, "priorities": 4, "util": 1.05}),
]

TRACE_SOURCE = "alibaba-gpu-2023 trace"
TRACE_CITATION = (
    'Weng et al., "Beware of Fragmentation: Scheduling GPU-Sharing Workloads with Fragmentation '
    'Gradient Descent", USENIX ATC 2023'
)
TRACE_DATA = (
    "alibaba/clusterdata, cluster-trace-gpu-v2023/csv (openb_node_list_all_node.csv, "
    "openb_pod_list_default.csv), commit 7a6c496e4f4b6ce6150be8f881cb051bf2abff42; "
    "read from ../shared/data/alibaba-gpu-2023"
)
TRACE = [
    ("alibaba-64nodes", {"nodes": 64, "running": 250, "pending": 100, "seed": 0}),
    ("alibaba-full", {"running": 4500, "pending": 1000, "seed": 0}),
]
MUST_LEAVE_PENDING = {"alibaba-64nodes"}

SMALL = "small"
SMALL_DESCRIPTION = (
    "Hand-written tour: 4 nodes (labels, a tainted node, an 8-GPU and a 2-GPU node), running pods (one "
    "protected, holding 4 devices; one GPU share), an anti-affinity group, node_affinity and node_selector "
    "pods, and train-xl (8 GPUs) that cannot fit while the protected pod holds 4. kube-default leaves "
    "train-b pending; packing render onto the T4 places it."
)


def dumps_request(instance: Any) -> str:
    """A SolveRequest as JSON, one node or pod per line: readable, diffable and small."""

    def one(value: Any) -> str:
        return json.dumps(value, separators=(", ", ": "))

    def block(key: str, items: list[Any]) -> list[str]:
        rows = [f"   {one(x)}," for x in items]
        if rows:
            rows[-1] = rows[-1][:-1]
        return [f'  "{key}": [', *rows, "  ],"]

    nodes = [n.model_dump(mode="json", exclude_defaults=True) for n in instance.nodes]
    pods = [p.model_dump(mode="json", exclude_defaults=True) for p in instance.pods]
    policy = one(instance.policy.model_dump(mode="json"))
    lines = [
        "{",
        ' "kind": "pods",',
        ' "instance": {',
        *block("nodes", nodes),
        *block("pods", pods),
        f'  "policy": {policy}',
        " },",
        f' "options": {one(OPTIONS)}',
        "}",
    ]
    return "\n".join(lines) + "\n"


def sizes(instance: Any) -> dict[str, int]:
    running = sum(1 for p in instance.pods if p.node is not None)
    return {
        "nodes": len(instance.nodes),
        "pods": len(instance.pods),
        "running": running,
        "pending": len(instance.pods) - running,
    }


def known_values(instance: Any) -> dict[str, Any]:
    from solver.pods.cluster import build_arrays
    from solver.pods.heuristic import kube_default
    from solver.pods.plans import to_plan

    arr = build_arrays(instance)
    out = {}
    for name, preemption in (("kube_default", True), ("kube_default_no_preemption", False)):
        st = kube_default(arr, preemption=preemption)
        plan = to_plan(arr, st.node_of, st.gpus_of)
        priorities = sorted({q.priority for q in instance.pods}, reverse=True)
        placed = {str(p): plan.placed_by_priority.get(p, 0) for p in priorities}
        out[name] = {
            "placed_by_priority": placed,
            "pending": len(plan.pending),
            "evictions": len(plan.evictions),
            "moves": len(plan.moves),
        }
    return out


def entry(name: str, instance: Any, text: str, **source: Any) -> dict[str, Any]:
    return {
        "name": name,
        "file": f"{name}.json",
        **source,
        "sizes": sizes(instance),
        "bytes": len(text.encode()),
        "known": known_values(instance),
    }


def write(name: str, text: str) -> None:
    (HERE / f"{name}.json").write_text(text)
    print(f"wrote {name}.json ({len(text.encode()) / 1e6:.2f} MB)")


def build() -> dict[str, Any]:
    from models.pods import PodsRequest
    from solver.pods.generate import default_leaves_pending, paper_instance
    from solver.pods.trace import alibaba_snapshot_with_info, resolve_data_dir
    from solver.pods.validate import validate

    entries: list[dict[str, Any]] = []
    small_text = (HERE / f"{SMALL}.json").read_text()
    small = PodsRequest.model_validate_json(small_text).instance
    validate(small)
    entries.append(
        entry(SMALL, small, small_text, source="hand-written", description=SMALL_DESCRIPTION, seed=None)
    )

    for name, params in PAPER:
        seeds = (s for s in range(MAX_SEED) if default_leaves_pending(paper_instance(**params, seed=s)))
        seed = next(seeds, None)
        if seed is None:
            raise RuntimeError(f"{name}: no seed below {MAX_SEED} where the default leaves a pod pending")
        inst = paper_instance(**params, seed=seed)
        text = dumps_request(inst)
        write(name, text)
        entries.append(
            entry(
                name,
                inst,
                text,
                source=PAPER_SOURCE,
                generator="solver.pods.generate.paper_instance",
                parameters=params,
                reference=PAPER_REFERENCE,
                seed=seed,
                selection=PAPER_SELECTION,
            )
        )

    try:
        resolve_data_dir()
        have_trace = True
    except FileNotFoundError as exc:
        print(f"warning: {exc}; keeping the existing alibaba files and manifest entries", file=sys.stderr)
        have_trace = False
    old = {}
    if (HERE / "MANIFEST.json").is_file():
        old = {e["name"]: e for e in json.loads((HERE / "MANIFEST.json").read_text())["instances"]}
    for name, params in TRACE:
        if not have_trace:
            if name in old:
                entries.append(old[name])
            continue
        inst, info = alibaba_snapshot_with_info(**params)
        text = dumps_request(inst)
        common = {
            "source": TRACE_SOURCE,
            "generator": "solver.pods.trace.alibaba_snapshot",
            "parameters": params,
            "snapshot": {
                "t": info.t,
                "running": info.running,
                "dropped": info.dropped,
                "pending": info.pending,
                "nodes": info.nodes,
            },
            "citation": TRACE_CITATION,
            "data": TRACE_DATA,
            "seed": params["seed"],
        }
        if len(text.encode()) > MAX_BYTES:
            print(f"skipped {name}.json: {len(text.encode()) / 1e6:.2f} MB > {MAX_BYTES / 1e6:.0f} MB")
            (HERE / f"{name}.json").unlink(missing_ok=True)
            entries.append(
                {
                    "name": name,
                    "file": None,
                    **common,
                    "sizes": sizes(inst),
                    "note": f"not shipped: {len(text.encode())} bytes > {MAX_BYTES}; build it with "
                    f"solver.pods.trace.alibaba_snapshot(**parameters)",
                }
            )
            continue
        made = entry(name, inst, text, **common)
        if name in MUST_LEAVE_PENDING and not made["known"]["kube_default_no_preemption"]["pending"]:
            raise RuntimeError(f"{name}: the default scheduler places every pod; choose a larger snapshot")
        write(name, text)
        entries.append(made)

    manifest = {
        "family": "pods",
        "regenerate": ".venv/bin/python -m instances.pods.build",
        "format": "each file is a SolveRequest: {kind, instance, options}",
        "known_values": (
            "kube_default: solver.pods.heuristic.kube_default with preemption (the family's baseline); "
            "kube_default_no_preemption: the same without preemption. placed_by_priority counts running "
            "and newly placed pods, highest priority first."
        ),
        "instances": entries,
    }
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print("wrote MANIFEST.json")
    return manifest


if __name__ == "__main__":
    build()
