"""A solve on its way through the pool (a Run), what it ends with (an Outcome), and the bounded queue.

Synchronous solves go before jobs: their budget counts from the HTTP request's arrival, a job's from
the moment a worker takes it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from service.jobs.protocol import Fault, Summary

OutcomeKind = Literal["done", "invalid", "failed", "timeout", "crash", "cancelled"]


@dataclass
class Outcome:
    """done: the solver's result. timeout/crash: the worker was lost; `result` is built from its best
    reported plan (None when it had none). invalid: bad input the web process could not see. failed: the
    solver raised. cancelled: removed from the queue before any worker took it."""

    kind: OutcomeKind
    result: bytes | None = None
    summary: Summary | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""


class Backpressure(Exception):
    """No room: the queue is full, or a synchronous solve would wait longer than its budget."""

    def __init__(self, message: str, retry_after_s: float, reason: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason  # for metrics: queue_full | budget | expired


@dataclass(eq=False)
class Run:
    kind: str
    request: bytes  # SolveRequest JSON
    time_limit_s: float
    sync: bool
    started: float | None = None  # monotonic; sync: arrival; job: set when a worker takes it
    return_progress: bool = False
    fault: Fault | None = None
    on_start: Callable[[], None] | None = None
    on_incumbent: Callable[[dict[str, Any]], None] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    future: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    fallback: bytes | None = None  # the latest plan-bearing result the worker reported
    progress: list[dict[str, Any]] = field(default_factory=list)
    cancelled: bool = False
    dispatched_at: float | None = None
    timer: asyncio.TimerHandle | None = None

    @property
    def deadline(self) -> float | None:
        return None if self.started is None else self.started + self.time_limit_s

    def finish(self, outcome: Outcome | BaseException) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.future.done():
            return
        if isinstance(outcome, BaseException):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)


class RunQueue:
    """Two FIFO lanes, synchronous first, sharing one bound."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.sync: deque[Run] = deque()
        self.jobs: deque[Run] = deque()

    def __len__(self) -> int:
        return len(self.sync) + len(self.jobs)

    def __contains__(self, run: Run) -> bool:
        return run in (self.sync if run.sync else self.jobs)

    def __iter__(self) -> Iterator[Run]:
        yield from self.sync
        yield from self.jobs

    @property
    def full(self) -> bool:
        return len(self) >= self.max_depth

    def push(self, run: Run) -> None:
        """Callers check `full` first; recovered jobs may go past the bound (they were accepted before)."""
        (self.sync if run.sync else self.jobs).append(run)

    def pop(self) -> Run | None:
        for lane in (self.sync, self.jobs):
            if lane:
                return lane.popleft()
        return None

    def remove(self, run: Run) -> bool:
        lane = self.sync if run.sync else self.jobs
        try:
            lane.remove(run)
        except ValueError:
            return False
        return True
