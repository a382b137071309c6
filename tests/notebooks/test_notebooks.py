"""The notebooks run top to bottom on a fresh kernel, and are committed executed, pictures included."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from notebooks.execute import execute
from solver import REGISTRY

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_every_family_has_a_notebook() -> None:
    assert {p.stem for p in NOTEBOOKS} == set(REGISTRY)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_is_committed_with_its_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "run it: python -m notebooks.execute"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a notebook shows its pictures"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb = execute(path, tmp_path / path.name)  # raises CellExecutionError at the first failing cell
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert any("image/png" in o.get("data", {}) for o in last.outputs), "the plan's picture is drawn"
