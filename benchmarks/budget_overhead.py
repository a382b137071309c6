"""Does every answer arrive by time_limit_s + 50 ms? Measured on every shipped instance of every family.

Each instance under instances/<kind>/ is solved with several budgets and engines; the wall time is
taken around solve() from before the request is parsed. Reported per budget: the distribution of
(wall - time_limit_s) and the share of answers within time_limit_s + 50 ms (target: 100%).

    python -m benchmarks.budget_overhead --limits 0.05,0.2,1 --engines auto,ilp,heuristic --repeat 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import solver
from benchmarks.common import table, write
from solver.engine.errors import InvalidInstance

INSTANCES = Path(__file__).resolve().parents[1] / "instances"
GRACE_S = 0.05


def _requests(skip: set[str]) -> dict[Path, dict]:
    """Every shipped SolveRequest file, read once (manifests and device sets left out)."""
    out = {}
    for f in sorted(INSTANCES.glob("*/*.json")):
        data = json.loads(f.read_text())
        if f.stem not in skip and isinstance(data, dict) and "kind" in data and "instance" in data:
            out[f] = data
    return out


def run(limits: list[float], engines: list[str], repeat: int, skip: set[str]) -> str:
    requests = _requests(skip)
    files = list(requests)
    rows = []
    worst: list[str] = []
    refused: list[str] = []
    for limit in limits:
        over = []
        for f in files:
            base = requests[f]
            for engine in engines:
                for _ in range(repeat):
                    options = {**base.get("options", {}), "time_limit_s": limit, "engine": engine}
                    req = dict(base, options=options)
                    t0 = time.monotonic()
                    try:
                        solver.solve(req, started=t0)
                    except InvalidInstance as exc:  # a budget below the instance's floor: refused at once
                        refused.append(f"{f.parent.name}/{f.stem} engine={engine} limit={limit:g}: {exc}")
                        continue
                    over.append(time.monotonic() - t0 - limit)
                    if over[-1] > GRACE_S:
                        worst.append(
                            f"{f.parent.name}/{f.stem} engine={engine} limit={limit:g}: "
                            f"+{1000 * over[-1]:.0f} ms"
                        )
        o = 1000 * np.array(over)
        rows.append(
            [
                f"{limit:g}",
                len(o),
                f"{np.percentile(o, 50):+.1f}",
                f"{np.percentile(o, 99):+.1f}",
                f"{o.max():+.1f}",
                f"{100 * np.mean(o <= 1000 * GRACE_S):.1f}%",
            ]
        )
    header = ["time limit s", "answers", "p50 wall - limit (ms)", "p99 (ms)", "max (ms)", "within +50 ms"]
    body = table(header, rows)
    if worst:
        body += "\n\nOver the grace:\n" + "\n".join(f"- {w}" for w in worst)
    if refused:
        body += "\n\nRefused (budget below the instance's floor; not in the table):\n"
        body += "\n".join(f"- {r}" for r in sorted(set(refused)))
    names = ", ".join(f"{f.parent.name}/{f.stem}" for f in files)
    return f"Instances: {names}. Engines: {', '.join(engines)}; {repeat} run(s) each.\n\n{body}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limits", default="0.05,0.2,1")
    ap.add_argument("--engines", default="auto,ilp,heuristic")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip", default="", help="instance names to leave out, comma-separated")
    args = ap.parse_args()
    body = run(
        [float(x) for x in args.limits.split(",")],
        args.engines.split(","),
        args.repeat,
        {s for s in args.skip.split(",") if s},
    )
    write("budget_overhead", "Every family: answers within the budget", body)


if __name__ == "__main__":
    main()
