"""Run notebooks top to bottom with a fresh kernel and store their outputs (`make notebooks`).

The tests run them the same way into a scratch copy, so a committed notebook is one that executes.
Usage: python -m notebooks.execute [NOTEBOOK ...]   (default: every notebooks/*.ipynb, in place)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
CELL_TIMEOUT_S = 600


def execute(notebook: Path, out: Path | None = None) -> nbformat.NotebookNode:
    """Execute `notebook` in the notebooks folder (as Jupyter would) and write it to `out` (default:
    in place). A cell that raises stops the run with nbclient's CellExecutionError."""
    nb = nbformat.read(notebook, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}
    )
    client.execute()
    nbformat.write(nb, out or notebook)
    return nb


def main(argv: list[str]) -> None:
    for path in [Path(a) for a in argv] or sorted(HERE.glob("*.ipynb")):
        print(f"executing {path}", flush=True)
        execute(path)


if __name__ == "__main__":
    main(sys.argv[1:])
