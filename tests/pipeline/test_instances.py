"""The shipped instances: every file in MANIFEST.json exists, reads, and solves to its known value."""

from __future__ import annotations

import json

import pytest

import solver
from solver.pipeline.plans import close
from tests.pipeline.conftest import INSTANCES

MANIFEST = json.loads((INSTANCES / "MANIFEST.json").read_text())
ENTRIES = {e["name"]: e for e in MANIFEST["instances"]}
REQUESTS = sorted(n for n, e in ENTRIES.items() if e["format"] == "SolveRequest")


def test_manifest_lists_every_file():
    shipped = {p.name for p in INSTANCES.iterdir() if p.suffix in (".json", ".txt")} - {"MANIFEST.json"}
    shipped.add("pipeedge/")
    assert shipped == {e["file"] for e in MANIFEST["instances"]}
    for e in MANIFEST["instances"]:
        assert e["source"] and e["cli"].startswith(("schedopt solve", "--devices"))


@pytest.mark.parametrize("name", REQUESTS)
def test_shipped_request_reaches_its_known_value(name):
    entry = ENTRIES[name]
    req = json.loads((INSTANCES / entry["file"]).read_text())
    known = entry["known"]["exact_10s_2_workers"]
    req["options"] = {"time_limit_s": 8.0 if entry["objective"] == "pareto" else 3.0, "workers": 2}
    r = solver.solve(req)
    assert r.status == known["status"] == "optimal"
    for key, value in known["objective"].items():
        assert close(r.objective[key], value), (key, r.objective[key], value)
    for baseline in r.baselines:  # the baselines recorded, and never better than the optimum
        assert baseline.objective["bottleneck_ms"] >= known["objective"]["bottleneck_ms"] * (1 - 1e-9)
