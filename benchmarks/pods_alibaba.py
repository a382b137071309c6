"""The Alibaba GPU cluster (all 1,523 nodes, >= 5,000 pods) at 1 s and 10 s, against the baselines.

Pods placed per priority tier (LS > Guaranteed > Burstable > BE) by kube-default emulation,
best-fit decreasing and ours, measured in the same process on the same snapshot, with the
cheap bound: a tier where ours meets the bound has no pod left pending that could run.
Target: a checked plan within the budget, lexicographically at least as good as the default's, and
strictly better wherever the default leaves a pod pending that could run.

    python -m benchmarks.pods_alibaba --running 7000 --pending 1152 --limits 1,10
"""

from __future__ import annotations

import argparse
import time

import solver
from benchmarks.common import table, write
from models.common import SolveOptions
from models.pods import PodsRequest
from solver.engine import objective as lex
from solver.pods.trace import QOS_PRIORITY, alibaba_snapshot_with_info

TIER_NAMES = {p: q for q, p in QOS_PRIORITY.items()}


def run(running: int, pending: int, limits: list[float], seeds: list[int]) -> str:
    sections = []
    for seed in seeds:
        inst, info = alibaba_snapshot_with_info(running=running, pending=pending, seed=seed)
        rows: dict[str, list] = {}
        notes = []
        for limit in limits:
            started = time.monotonic()
            r = solver.solve(
                PodsRequest(instance=inst, options=SolveOptions(time_limit_s=limit, workers=2)),
                started=started,
            )
            wall = time.monotonic() - started
            assert solver.check("pods", inst, r.plan).ok
            senses = r.objective_sense
            if not rows:
                for b in r.baselines:
                    rows[b.name] = [b.name, *(_fmt(b.objective[k]) for k in senses), "-", "-"]
                rows["bound"] = [
                    "cheap bound",
                    *(_fmt(r.bound[k]) if r.bound and r.bound.get(k) is not None else "-" for k in senses),
                    "-",
                    "-",
                ]
            kube = next(b for b in r.baselines if b.name == "kube-default")
            verdict = (
                "better"
                if lex.better(r.objective, kube.objective, senses)
                else "equal"
                if lex.no_worse(r.objective, kube.objective, senses)
                else "WORSE"
            )
            rows[f"ours {limit:g}"] = [
                f"ours @ {limit:g} s ({r.status}, {r.method})",
                *(_fmt(r.objective[k]) for k in senses),
                verdict,
                f"{wall:.3f}",
            ]
            notes += [
                f"ours @ {limit:g} s: total_s {r.stats.total_s:.3f}, heuristics {r.stats.heuristic_s:.3f} s; "
                + "; ".join(w for w in r.warnings if w.startswith("lns"))
            ]
        header = ["plan", *(_tier(k) for k in senses), "vs kube-default", "wall s"]
        sections.append(
            f"## snapshot seed {seed}: {info.nodes} nodes, {info.running} running, "
            f"{info.pending} pending ({info.dropped} dropped in the replay), t = {info.t}\n\n"
            + table(header, list(rows.values()))
            + "\n\n"
            + "\n".join(f"- {n}" for n in notes)
        )
    return "\n\n".join(sections)


def _tier(name: str) -> str:
    if name.startswith("placed_priority_"):
        p = int(name.rsplit("_", 1)[1])
        return f"placed {TIER_NAMES.get(p, p)} (p{p})"
    return name


def _fmt(x: float) -> str:
    return f"{x:.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--running", type=int, default=7000)
    ap.add_argument("--pending", type=int, default=1152, help="default: every pod the trace has left")
    ap.add_argument("--limits", default="1,10")
    ap.add_argument(
        "--seeds", default="0", help="snapshot seeds (only node sampling uses it; all nodes: one)"
    )
    args = ap.parse_args()
    body = run(
        args.running,
        args.pending,
        [float(x) for x in args.limits.split(",")],
        [int(s) for s in args.seeds.split(",")],
    )
    intro = (
        "Data: Alibaba cluster-trace-gpu-v2023 (openb), Weng et al., USENIX ATC 2023. Snapshot: pods "
        "created before t run, placed by replaying kube-default in creation order (pods never finish, as "
        "in the FGD simulator); the next pods created are pending. Policy: eviction allowed, no caps."
    )
    write("pods_alibaba", "Pods: the Alibaba GPU cluster", intro + "\n\n" + body)


if __name__ == "__main__":
    main()
