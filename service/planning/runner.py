"""Turn (item, settings) jobs into tasks, run them on a backend, and show progress as records arrive."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from service.inputs import InputError
from service.planning.backends import Backend
from service.planning.records import ERROR, STATUSES, Record
from service.planning.sources import Item
from service.planning.work import Task

DEFAULT_TIME_LIMIT_S = 1.0  # SolveOptions' default: what a request without options gets
OVERHEAD_S = 0.05  # per task, beyond its budget: what the ETA adds for reading, checking and transport


@dataclass(frozen=True)
class Settings:
    """Options applied to every request; None keeps the request's own value."""

    time_limit_s: float | None = None
    engine: str | None = None
    seed: int | None = None
    workers: int = 1  # CP-SAT search workers per solve: processes already share the cores

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        options = request.get("options")
        options = dict(options) if isinstance(options, dict) else {}
        given = {"time_limit_s": self.time_limit_s, "engine": self.engine, "seed": self.seed}
        options.update({k: v for k, v in given.items() if v is not None})
        options["workers"] = self.workers
        options.setdefault("time_limit_s", DEFAULT_TIME_LIMIT_S)
        options.setdefault("engine", "auto")
        options.setdefault("seed", 0)
        return {**request, "options": options}


@dataclass(frozen=True)
class Job:
    item: Item
    settings: Settings
    key: Hashable


@dataclass(frozen=True)
class Loading:
    """How items are read: --kind for bare JSON instances, --devices for PipeDream profiles."""

    kind: str | None = None
    devices: str | None = None
    keep_plans: bool = False


def tasks(jobs: Sequence[Job], loading: Loading) -> Iterator[Task]:
    """Read each item when its first task is due (consecutive jobs of one item read it once)."""
    last: tuple[str, dict[str, Any] | str] | None = None
    for job in jobs:
        item = job.item
        if last is None or last[0] != item.id:
            try:
                last = (item.id, item.load(loading.kind, loading.devices))
            except InputError as exc:
                last = (item.id, "; ".join(exc.lines))
        meta = _meta(item, last[1])
        if isinstance(last[1], str):
            yield Task(request=job.settings.apply({}), meta=meta, error=f"cannot read: {last[1]}")
        else:
            yield Task(request=job.settings.apply(last[1]), meta=meta, keep_plan=loading.keep_plans)


def _meta(item: Item, request: dict[str, Any] | str) -> dict[str, Any]:
    kind = item.kind
    size = None
    if isinstance(request, dict):
        kind = request.get("kind", kind)
        instance = request.get("instance")
        if isinstance(instance, dict):
            size = sum(len(v) for v in instance.values() if isinstance(v, list))
    return {
        "id": item.id,
        "instance": item.name,
        "source": None if item.path is None else str(item.path),
        "format": item.fmt,
        "kind": kind,
        "size": size,
    }


def execute(
    jobs: Sequence[Job],
    backend: Backend,
    loading: Loading,
    on_record: Callable[[Record], None],
    show: ProgressView | None = None,
) -> list[Record]:
    """Run every job; each record goes to on_record (and the progress view) as soon as it arrives."""
    out: list[Record] = []
    for record in backend.run(tasks(jobs, loading)):  # in completion order
        on_record(record)
        out.append(record)
        if show is not None:
            show.advance(record, (record.time_limit_s or DEFAULT_TIME_LIMIT_S) + OVERHEAD_S)
    return out


def _weight(job: Job) -> float:
    return (job.settings.time_limit_s or DEFAULT_TIME_LIMIT_S) + OVERHEAD_S


class ProgressView:
    """A rich progress bar on stderr: done/total, elapsed, ETA and running counts by status.

    The bar advances by each task's budget, not by one, so the ETA holds when budgets differ."""

    def __init__(self, title: str, jobs: Sequence[Job], enabled: bool = True, console: Console | None = None):
        self.counts: Counter[str] = Counter()
        self.check_failed = 0
        self.done = 0
        self.count = len(jobs)
        self.started = time.monotonic()
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[done]}/{task.fields[count]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=console or Console(stderr=True),
            disable=not enabled,
        )
        total = sum(_weight(job) for job in jobs) or 1.0
        self._task = self._progress.add_task(title, total=total, done=0, count=self.count, counts="")

    def __enter__(self) -> ProgressView:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, record: Record, weight: float) -> None:
        self.done += 1
        self.counts[record.status] += 1
        self.check_failed += record.check_failed
        self._progress.update(self._task, advance=weight, done=self.done, counts=self.describe())

    def describe(self) -> str:
        colours = {"optimal": "green", "feasible": "cyan", "fallback": "yellow", "infeasible": "magenta"}
        parts = [
            f"[{colours.get(s, 'red')}]{s} {self.counts[s]}[/]"
            for s in STATUSES
            if self.counts[s] or s != ERROR
        ]
        if self.check_failed:
            parts.append(f"[bold red]check failed {self.check_failed}[/]")
        return " ".join(parts)
