"""`make bench`: every benchmark at the settings of its committed table in benchmarks/results/.

Timing sections (decision times, service load, budget overhead) want a quiet machine: nothing else
running on its cores."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    ("benchmarks.pods_paper_grid", ["--per-cell", "2", "--limits", "1,10"]),
    ("benchmarks.pods_alibaba", ["--running", "7000", "--pending", "1152", "--limits", "1,10"]),
    ("benchmarks.workflow_psplib", ["--limits", "1,10", "--ft10-limit", "120"]),
    ("benchmarks.parallelism_mix", []),
    ("benchmarks.pipeline_placement", []),
    ("benchmarks.batching_goodput", ["--skip-decisions"]),
    ("benchmarks.batching_goodput", ["--skip-goodput", "--out", "batching_decision_time"]),
    ("benchmarks.service_load", []),
    ("benchmarks.budget_overhead", []),
]


def main() -> None:
    for module, args in BENCHMARKS:
        print(f"== {module} {' '.join(args)}", flush=True)
        sys.argv = [module, *args]
        importlib.import_module(module).main()


if __name__ == "__main__":
    main()
