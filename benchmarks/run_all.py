"""`make bench`: every benchmark at its default settings; tables go to benchmarks/results/."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = [
    ("benchmarks.pods_paper_grid", ["--per-cell", "2", "--limits", "1,10"]),
    ("benchmarks.pods_alibaba", ["--running", "7000", "--pending", "1152", "--limits", "1,10"]),
    ("benchmarks.workflow_psplib", ["--limits", "1,10", "--ft10-limit", "120"]),
    ("benchmarks.parallelism_mix", []),
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
