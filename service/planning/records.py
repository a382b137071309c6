"""The record of one solve, one JSON line each, and the results file they are appended to.

A results file is append-only JSON lines, flushed after every record, so a killed run loses at most
the solves that were running. Reading tolerates a torn last line; the last record of a key wins, so
a retried instance simply appends its new record.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, Field

ERROR = "error"  # the status of a record whose instance could not be solved at all
STATUSES = ("optimal", "feasible", "fallback", "infeasible", ERROR)
TIMING_FIELDS = ("times",)  # the only fields that may differ between two runs of one deterministic solve


class Baseline(BaseModel):
    name: str
    objective: dict[str, float]


class Record(BaseModel):
    """One solve of one instance with one engine and budget: what `batch` and `compare` write."""

    id: str = Field(description="The instance's stable id: its path relative to the working directory.")
    instance: str = Field(description="Short name: the file's stem.")
    source: str | None = Field(None, description="The file or folder read (None: in memory).")
    format: str
    kind: str | None = None
    size: int | None = Field(
        None, description="Items in the instance: the lengths of its top-level lists, added up."
    )
    requested_engine: str | None = None
    time_limit_s: float | None = None
    seed: int | None = None
    workers: int | None = Field(None, description="CP-SAT search workers of the solve.")
    status: str = Field(description="optimal | feasible | fallback | infeasible, or error.")
    engine: str | None = Field(None, description="The engine whose plan was returned.")
    method: str | None = None
    objective: dict[str, float] = Field(default_factory=dict)
    objective_sense: dict[str, str] = Field(default_factory=dict)
    bound: dict[str, float | None] | None = None
    gap: float | None = None
    baseline: Baseline | None = None
    has_plan: bool = False
    check_ok: bool | None = Field(
        None,
        description="The family's checker re-run on the returned plan, and its objective recomputed: "
        "True when feasible and equal; None when there is no plan.",
    )
    check_violations: list[str] = Field(default_factory=list)
    explanations: int = Field(0, description="Items left out or targets unmet, each explained.")
    variables: int = 0
    constraints: int = 0
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    times: dict[str, float] = Field(
        default_factory=dict,
        description="total_s (the solver's, budget included), heuristic_s, build_s, solve_s, check_s, "
        "recheck_s (our re-check), wall_s (the task in its worker: parsing, solving, re-checking).",
    )
    plan: Any = None

    @property
    def check_failed(self) -> bool:
        return self.check_ok is False

    def comparable(self) -> dict[str, Any]:
        """Everything but the timing fields: equal for two runs of one deterministic solve."""
        return self.model_dump(mode="json", exclude=set(TIMING_FIELDS))


Key = Callable[[Record], Hashable]


def read_records(path: Path) -> list[Record]:
    """Every complete record of a results file (a torn or foreign line is passed over)."""
    if not path.exists():
        return []
    out: list[Record] = []
    with path.open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                out.append(Record.model_validate_json(line))
            except ValueError:
                continue  # a line cut short by a kill, or not ours
    return out


def latest(records: Iterable[Record], key: Key) -> dict[Hashable, Record]:
    """The last record of each key."""
    out: dict[Hashable, Record] = {}
    for record in records:
        out[key(record)] = record
    return out


class ResultsFile:
    """Append records to a JSON-lines file, one flushed line each."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = path.open("a", encoding="utf-8")
        if self._f.tell() > 0 and not _ends_with_newline(path):
            self._f.write("\n")  # the last run was killed mid-line: start a fresh line

    def append(self, record: Record) -> None:
        self._f.write(json.dumps(record.model_dump(mode="json"), separators=(",", ":")) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as f:
        f.seek(-1, 2)
        return f.read(1) == b"\n"
