"""`schedopt batch`: solve every instance once, appending one JSON line each to a results file.

Resumable: an instance whose id already has a record in the file is not solved again (with
`retry_errors`, one whose record is an error is). The outcome covers every requested instance, the
records of earlier runs included, so a rerun reports the same failures until they are fixed.
"""

from __future__ import annotations

import statistics
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from service.planning.backends import Backend, InlineBackend
from service.planning.records import ERROR, STATUSES, Record, ResultsFile, latest, read_records
from service.planning.runner import Job, Loading, ProgressView, Settings, execute
from service.planning.sources import Expansion, Item, expand


def batch_key(record: Record) -> Hashable:
    return record.id


@dataclass
class BatchOutcome:
    records: list[Record]  # one per requested instance that has a record, earlier runs' included
    solved: list[Record]  # this run's
    expansion: Expansion
    resumed: int = 0  # instances skipped because the file already had them
    stale: list[str] = field(default_factory=list)  # resumed records made with other settings

    @property
    def errors(self) -> list[Record]:
        return [r for r in self.records if r.status == ERROR]

    @property
    def check_failures(self) -> list[Record]:
        return [r for r in self.records if r.check_failed]

    @property
    def ok(self) -> bool:
        return not self.errors and not self.check_failures


def run_batch(
    paths: Iterable[str | Path | Item],
    out: Path,
    settings: Settings | None = None,
    backend: Backend | None = None,
    loading: Loading | None = None,
    retry_errors: bool = False,
    progress: bool = False,
) -> BatchOutcome:
    settings = settings or Settings()
    loading = loading or Loading()
    expansion = expand(paths, loading.kind, loading.devices)
    earlier = latest(read_records(out), batch_key)
    jobs: list[Job] = []
    kept: dict[Hashable, Record] = {}
    stale: list[str] = []
    for item in expansion.items:
        prior = earlier.get(item.id)
        if prior is not None and not (retry_errors and prior.status == ERROR):
            kept[item.id] = prior
            if prior.status != ERROR and _differs(prior, settings):
                stale.append(item.id)
            continue
        jobs.append(Job(item, settings, item.id))
    backend = backend or InlineBackend()
    with ResultsFile(out) as results, ProgressView("batch", jobs, enabled=progress) as view:
        solved = execute(jobs, backend, loading, results.append, view)
    new = {batch_key(r): r for r in solved}
    records = [
        new.get(item.id) or kept[item.id] for item in expansion.items if item.id in new or item.id in kept
    ]
    return BatchOutcome(records, solved, expansion, len(kept), stale)


def _differs(record: Record, settings: Settings) -> bool:
    asked = {
        "time_limit_s": settings.time_limit_s,
        "requested_engine": settings.engine,
        "seed": settings.seed,
        "workers": settings.workers,
    }
    return any(value is not None and getattr(record, name) != value for name, value in asked.items())


def summary_table(records: Sequence[Record], title: str = "batch") -> Table:
    """Per kind: instances, each status, plans that failed the re-check, mean gap, mean and max time."""
    table = Table(title=title, title_justify="left")
    for header in ("kind", "instances", *STATUSES, "check failed", "mean gap", "mean s", "max s"):
        table.add_column(header, justify="left" if header == "kind" else "right")
    groups: dict[str, list[Record]] = {}
    for record in records:
        groups.setdefault(record.kind or "?", []).append(record)
    rows = [(kind, groups[kind]) for kind in sorted(groups)]
    if len(rows) > 1:
        rows.append(("all", list(records)))
    for kind, group in rows:
        gaps = [r.gap for r in group if r.gap is not None]
        times = [r.times["total_s"] for r in group if "total_s" in r.times]
        table.add_row(
            kind,
            str(len(group)),
            *(str(sum(r.status == s for r in group)) for s in STATUSES),
            str(sum(r.check_failed for r in group)),
            f"{100 * statistics.fmean(gaps):.2f}%" if gaps else "-",
            f"{statistics.fmean(times):.2f}" if times else "-",
            f"{max(times):.2f}" if times else "-",
            end_section=kind == rows[-2][0] if len(rows) > 1 else False,
        )
    return table


def print_summary(outcome: BatchOutcome, out: Path, wall_s: float, console: Console) -> None:
    console.print(summary_table(outcome.records))
    done = f"{len(outcome.solved)} solved in {wall_s:.1f} s"
    if outcome.resumed:
        done += f", {outcome.resumed} already in {out} (not solved again)"
    console.print(f"{done}; results: {out}")
    for record in outcome.errors:
        console.print(f"[red]error[/] {record.id}: {record.error}", soft_wrap=True)
    for record in outcome.check_failures:
        shown = "; ".join(record.check_violations[:3])
        console.print(f"[bold red]check failed[/] {record.id}: {shown}", soft_wrap=True)
    if outcome.stale:
        console.print(
            f"[yellow]note[/]: {len(outcome.stale)} records kept from {out} were made with other settings "
            f"(e.g. {outcome.stale[0]}); write to a new --out to solve them again",
            soft_wrap=True,
        )
