"""Small instance folders in every format batch and compare read, built in a temporary directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "instances"

# small and solved to optimality in milliseconds: results are the same on any backend
FILES = {
    "workflow/example.json": INSTANCES / "workflow" / "example.json",
    "workflow/ft06.txt": INSTANCES / "workflow" / "ft06.txt",
    "workflow/j301_1.sm": INSTANCES / "workflow" / "j301_1.sm",
    "batching/tiny.json": INSTANCES / "batching" / "tiny.json",
    "pipeline/example.json": INSTANCES / "pipeline" / "example.json",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """tmp/instances: five instances in three formats, plus files that are not instances."""
    root = tmp_path / "instances"
    for name, source in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, root / name)
    (root / "workflow" / "MANIFEST.json").write_text(json.dumps({"family": "workflow", "instances": []}))
    (root / "workflow" / "build.py").write_text("print('not an instance')\n")
    (root / "workflow" / "notes.txt").write_text("a note that is neither a job shop nor a profile\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.json").write_text("{}")
    return root


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tmp_path, so ids are short relative paths."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
