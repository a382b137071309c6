"""The PSPLIB j30 dev set at 1 s and 10 s (2 workers), against the known optima, and the job-shop classics.

Per time limit: how many of the 20 instances are proven optimal, how many reach the optimum, the mean
and largest gap to the known optimum, the time taken; beside them the gaps of the baselines measured in
the same runs: the best of the SGS priority rules (LFT, MTS, GRPW, SPT) and forward-backward improvement.
Then ft06, la01 and ft10: the time to reach the optimum and whether it is proven.
Targets (issue 4): all 20 proven within 10 s, at least 18 at 1 s; ft10 (930): time to optimum.

    python -m benchmarks.workflow_psplib --limits 1,10 --ft10-limit 60
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from typing import Any

import solver
from benchmarks.common import SHARED, table, write
from solver.workflow.formats import read_jobshop, read_psplib

PSPLIB = SHARED / "instances" / "psplib"
JOBSHOP = SHARED / "instances" / "jobshop"
JOBSHOP_OPTIMA = {"ft06": 55, "la01": 666, "ft10": 930}
WORKERS = 2


def optima() -> dict[str, tuple[int, int]]:
    """instance -> (optimal makespan, critical path)"""
    with (PSPLIB / "j30_dev_optima.csv").open() as f:
        return {
            r["instance"]: (int(r["optimal_makespan"]), int(r["critical_path_mpm_time"]))
            for r in csv.DictReader(f)
        }


def solve(instance: Any, limit: float, engine: str = "auto", progress: bool = False) -> tuple[Any, float]:
    started = time.monotonic()
    r = solver.solve(
        {
            "kind": "workflow",
            "instance": instance.model_dump(),
            "options": {
                "time_limit_s": limit,
                "workers": WORKERS,
                "engine": engine,
                "return_progress": progress,
            },
        },
        started=started,
    )
    return r, time.monotonic() - started


def gap(value: float, optimum: int) -> float:
    return 100.0 * (value - optimum) / optimum


def baseline(r: Any, prefix: str) -> float:
    return next(b.objective["makespan"] for b in r.baselines if b.name.startswith(prefix))


def psplib_section(limits: list[float], engine: str) -> str:
    known = optima()
    instances = {name: read_psplib((PSPLIB / f"{name}.sm").read_text()) for name in known}
    rows: dict[str, list[Any]] = {name: [name, opt, cpm, None, None] for name, (opt, cpm) in known.items()}
    summary = []
    for limit in limits:
        proven = reached = 0
        gaps, walls, rules, fbis = [], [], [], []
        for name, inst in instances.items():
            opt = known[name][0]
            r, wall = solve(inst, limit, engine)
            ms = r.objective["makespan"]
            proven += r.status == "optimal"
            reached += ms == opt
            gaps.append(gap(ms, opt))
            walls.append(wall)
            rules.append(gap(baseline(r, "sgs-best-of-rules"), opt))
            fbis.append(gap(min(baseline(r, "sgs-best-of-rules"), baseline(r, "sgs-fbi")), opt))
            row = rows[name]
            row[3], row[4] = rules[-1], fbis[-1]
            row.append(f"{ms:.0f} {'proven' if r.status == 'optimal' else r.status} {wall:.2f}s")
        summary.append(
            [
                f"{limit:g} s",
                len(instances),
                f"{proven}/{len(instances)}",
                f"{reached}/{len(instances)}",
                f"{statistics.mean(gaps):.2f}%",
                f"{max(gaps):.2f}%",
                f"{statistics.mean(walls):.3f}",
                f"{max(walls):.3f}",
                f"{statistics.mean(rules):.2f}%",
                f"{statistics.mean(fbis):.2f}%",
            ]
        )
    header = [
        "limit",
        "instances",
        "proven optimal",
        "optimum reached",
        f"mean gap ({engine})",
        "max gap",
        "mean wall (s)",
        "max wall (s)",
        "best-of-rules mean gap",
        "FBI mean gap",
    ]
    per_instance = [
        [row[0], row[1], row[2], f"{row[3]:.1f}%", f"{row[4]:.1f}%", *row[5:]] for row in rows.values()
    ]
    detail_header = [
        "instance",
        "optimum",
        "critical path",
        "best-of-rules gap",
        "FBI gap",
        *[f"{limit:g} s: makespan, status, wall" for limit in limits],
    ]
    return (
        f"## PSPLIB j30 dev set (20 instances), engine {engine}, {WORKERS} workers\n\n"
        + table(header, summary)
        + "\n\nGaps are to the known optimum (j30opt.sm). Baseline gaps come from the same runs: the best of "
        "the SGS priority rules (LFT, MTS, GRPW, SPT), and the better of that and forward-backward "
        "improvement.\n\n" + table(detail_header, per_instance)
    )


def jobshop_section(limits: dict[str, float]) -> str:
    rows = []
    for name, limit in limits.items():
        inst = read_jobshop((JOBSHOP / f"{name}.txt").read_text())
        opt = JOBSHOP_OPTIMA[name]
        r, wall = solve(inst, limit, progress=True)
        hit = next((p.t for p in r.progress or [] if p.objective["makespan"] <= opt), None)
        rows.append(
            [
                name,
                f"{len(inst.tasks)} tasks, {len(inst.resources)} machines",
                opt,
                f"{baseline(r, 'sgs-best-of-rules'):.0f}",
                f"{r.objective['makespan']:.0f}",
                "-" if hit is None else f"{hit:.2f}",
                "yes"
                if r.status == "optimal"
                else f"no (bound {r.bound['makespan']:.0f})"
                if r.bound
                else "no",
                f"{wall:.2f}",
                f"{limit:g}",
            ]
        )
    header = [
        "instance",
        "size",
        "optimum",
        "best-of-rules",
        "makespan",
        "time to optimum (s)",
        "proven",
        "wall (s)",
        "limit (s)",
    ]
    return f"## Job shop (OR-Library), cpsat, {WORKERS} workers\n\n" + table(header, rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limits", default="1,10", help="time limits in seconds for PSPLIB, comma-separated")
    ap.add_argument("--ft10-limit", type=float, default=60.0, help="time limit for ft10 (default 60 s)")
    ap.add_argument("--engine", default="auto", help="auto (CP-SAT), ilp or heuristic")
    args = ap.parse_args()
    t0 = time.monotonic()
    body = psplib_section([float(x) for x in args.limits.split(",")], args.engine)
    body += "\n\n" + jobshop_section({"ft06": 10.0, "la01": 10.0, "ft10": args.ft10_limit})
    body += f"\n\n(run took {time.monotonic() - t0:.0f} s)"
    name = "workflow_psplib" if args.engine == "auto" else f"workflow_psplib_{args.engine}"
    write(name, "Workflow: PSPLIB j30 and job-shop classics", body)


if __name__ == "__main__":
    main()
