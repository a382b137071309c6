"""Shared data of the workflow tests: the PSPLIB j30 dev set and the job-shop classics in ../shared."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from models.workflow import WorkflowInstance
from solver.workflow.formats import read_jobshop, read_psplib

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared" / "instances"
PSPLIB = SHARED / "psplib"
JOBSHOP = SHARED / "jobshop"
INSTANCES = ROOT / "instances" / "workflow"
DATA = Path(__file__).resolve().parent / "data"
JOBSHOP_OPTIMA = {"ft06": 55, "ft10": 930, "la01": 666}


def j30_optima() -> dict[str, int]:
    with (PSPLIB / "j30_dev_optima.csv").open() as f:
        return {row["instance"]: int(row["optimal_makespan"]) for row in csv.DictReader(f)}


def psplib(name: str) -> WorkflowInstance:
    return read_psplib((PSPLIB / f"{name}.sm").read_text())


def jobshop(name: str) -> WorkflowInstance:
    return read_jobshop((JOBSHOP / f"{name}.txt").read_text())


def request(inst: WorkflowInstance | dict, **options: Any) -> dict[str, Any]:
    body = inst.model_dump() if isinstance(inst, WorkflowInstance) else inst
    return {"kind": "workflow", "instance": body, "options": {"time_limit_s": 2.0, "workers": 2, **options}}


@pytest.fixture
def small() -> dict[str, Any]:
    """Five tasks on two resources: a diamond a -> (b, c) -> d plus e, with a lag and a release."""
    return {
        "tasks": [
            {"id": "a", "modes": [{"duration": 2, "demands": {"gpu": 2}}]},
            {"id": "b", "modes": [{"duration": 3, "demands": {"gpu": 2}}], "predecessors": [{"task": "a"}]},
            {
                "id": "c",
                "modes": [{"duration": 2, "demands": {"gpu": 1, "cpu": 2}}],
                "predecessors": [{"task": "a", "min_lag": 1}],
            },
            {
                "id": "d",
                "modes": [{"duration": 1, "demands": {"cpu": 1}}],
                "predecessors": [{"task": "b"}, {"task": "c"}],
                "due": 6,
                "weight": 2,
            },
            {"id": "e", "modes": [{"duration": 4, "demands": {"gpu": 1}}], "release": 1},
        ],
        "resources": [{"name": "gpu", "capacity": 3}, {"name": "cpu", "capacity": 2}],
    }
