"""The shipped instances: every file in MANIFEST.json exists, parses, and solves to its known value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.parallelism.conftest import solved

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "parallelism"
MANIFEST = json.loads((INSTANCES / "MANIFEST.json").read_text())
ENTRIES = {e["name"]: e for e in MANIFEST["instances"]}


def test_manifest_lists_every_instance_file():
    shipped = {p.name for p in INSTANCES.glob("*.json")} - {"MANIFEST.json"}
    assert shipped == {e["file"] for e in MANIFEST["instances"]}
    for e in MANIFEST["instances"]:
        assert e["source"] and e["description"] and e["known"]["cpsat_10s_2_workers"]["status"] == "optimal"
    assert ENTRIES["melange"]["known"]["optimum"] == {"cost_per_hour": 6.7}


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_shipped_instance_reaches_its_known_value(name):
    entry = ENTRIES[name]
    req = json.loads((INSTANCES / entry["file"]).read_text())
    req["options"] = {"time_limit_s": 2.0, "workers": 2}
    r = solved(req, status="optimal")
    assert r.objective == entry["known"]["cpsat_10s_2_workers"]["objective"]
    ref = entry["known"]["brute_force"]
    if isinstance(ref, dict):
        assert r.objective == ref
