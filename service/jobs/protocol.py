"""Messages between the web process and a solver worker, over one multiprocessing pipe per worker.

The worker reports as soon as it can: the heuristic's checked plan first (`Fallback`), then every
improving incumbent (`Incumbent`), then the final result (`Done`). Whatever happens to the worker
afterwards, the web process already holds a plan it can answer with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Fault(StrEnum):
    """Test-only misbehaviours (SCHEDOPT_TEST_FAULTS=1 and an X-Schedopt-Fault header)."""

    crash = "crash"  # exit after the fallback plan was sent, before the search ends
    crash_early = "crash-early"  # exit before any plan
    hang = "hang"  # block after the fallback plan, ignoring the time limit and cancellation
    ignore_limit = "ignore-limit"  # search with a 600 s limit whatever the request says


# web -> worker


@dataclass(frozen=True)
class Task:
    id: str
    request: bytes  # SolveRequest JSON
    started: float  # time.monotonic() the budget counts from (one clock for every process on the host)
    fault: Fault | None = None


@dataclass(frozen=True)
class Cancel:
    id: str


@dataclass(frozen=True)
class Stop:
    pass


# worker -> web


@dataclass(frozen=True)
class Ready:
    pid: int


@dataclass(frozen=True)
class Incumbent:
    id: str
    point: dict[str, Any]  # a ProgressPoint


@dataclass(frozen=True)
class Fallback:
    id: str
    result: bytes  # SolveResult JSON built from the best checked heuristic plan


@dataclass(frozen=True)
class Summary:
    """What the web process needs of a result without parsing it: metrics and job columns."""

    status: str
    engine: str
    gap: float | None = None


@dataclass(frozen=True)
class Done:
    id: str
    result: bytes  # SolveResult JSON
    summary: Summary


@dataclass(frozen=True)
class Invalid:
    id: str
    errors: list[dict[str, Any]] = field(default_factory=list)  # {"loc", "msg", "input"?}, request paths


@dataclass(frozen=True)
class Failed:
    id: str
    error: str


ToWorker = Task | Cancel | Stop
FromWorker = Ready | Incumbent | Fallback | Done | Invalid | Failed
