"""The shipped instances: every file in MANIFEST.json exists, reads, and solves to its known value."""

from __future__ import annotations

import json

import pytest

import solver
from solver.workflow.formats import read_jobshop, read_psplib
from tests.workflow.conftest import INSTANCES

MANIFEST = json.loads((INSTANCES / "MANIFEST.json").read_text())
ENTRIES = {e["name"]: e for e in MANIFEST["instances"]}
READERS = {"psplib": read_psplib, "jobshop (OR-Library)": read_jobshop}


def request_of(entry: dict) -> dict:
    path = INSTANCES / entry["file"]
    if entry["format"] in READERS:
        return {"kind": "workflow", "instance": READERS[entry["format"]](path.read_text()).model_dump()}
    return json.loads(path.read_text())


def test_manifest_lists_every_instance_file():
    shipped = {p.name for p in INSTANCES.iterdir() if p.suffix in (".sm", ".txt", ".json")} - {
        "MANIFEST.json"
    }
    assert shipped == {e["file"] for e in MANIFEST["instances"]}
    for e in MANIFEST["instances"]:
        assert e["source"] and e["sizes"]["tasks"] > 0
        if e["format"] in READERS:
            assert e["citation"] and e["known"]["optimum"]["makespan"] > 0


@pytest.mark.parametrize("name", sorted(n for n in ENTRIES if n != "ft10"))
def test_shipped_instance_reaches_its_known_value(name):
    entry = ENTRIES[name]
    req = request_of(entry)
    req["options"] = {"time_limit_s": 3.0, "workers": 2}
    r = solver.solve(req)
    known = entry["known"]
    expected = known["optimum"] if "optimum" in known else known["cpsat_10s_2_workers"]["objective"]
    assert r.status == "optimal"
    assert {k: v for k, v in r.objective.items() if k in expected} == expected
    assert solver.check("workflow", req["instance"], r.plan).ok
