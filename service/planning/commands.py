"""The `schedopt batch` and `schedopt compare` commands (registered in service.cli).

Exit codes: 0 when every instance was solved and every plan passed the re-check; 1 when a plan
failed its check or an instance errored (the records say which); 2 for bad input (a PATH that does
not exist, a bad flag, Ray missing or unreachable) before anything is solved.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from models.common import EngineName, SolveOptions
from service.inputs import InputError, check_kind
from service.planning import compare as cmp
from service.planning.backends import Backend, make_backend
from service.planning.batch import print_summary, run_batch
from service.planning.records import ERROR
from service.planning.runner import Loading, Settings
from service.planning.sources import Expansion, describe_skipped, expand

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
ENGINES = ",".join(cmp.DEFAULT_ENGINES)
TIME_LIMITS = ",".join(f"{limit:g}" for limit in cmp.DEFAULT_TIME_LIMITS)


class BackendName(StrEnum):
    local = "local"
    ray = "ray"


Paths = Annotated[
    list[str],
    typer.Argument(
        help="Instance files, directories (walked recursively) and globs: SolveRequest JSON, PSPLIB .sm/.mm, "
        "job-shop .txt, PipeDream graph.txt (with --devices), PipeEdge folders; formats are detected.",
        show_default=False,
        metavar="PATH...",
    ),
]
Workers = Annotated[
    int | None,
    typer.Option("--workers", min=1, max=512, help="Solves at once: processes (local) or Ray tasks [CPUs]."),
]
SearchWorkers = Annotated[
    int,
    typer.Option(
        "--search-workers", min=1, max=64, help="CP-SAT workers per solve; 1 is reproducible with --seed."
    ),
]
Backend_ = Annotated[BackendName, typer.Option("--backend", help="local: a process pool; ray: Ray tasks.")]
Address = Annotated[
    str | None, typer.Option(help="ray: an existing cluster (e.g. ray://head:10001, auto) [a local Ray].")
]
Kind = Annotated[str | None, typer.Option(help="The family of bare JSON instances (files without 'kind').")]
Devices = Annotated[
    str | None, typer.Option(help="PipeDream profiles: N identical devices, or a device-set JSON.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def batch(
    paths: Paths,
    out: Annotated[
        Path, typer.Option("--out", "-o", dir_okay=False, help="JSON-lines results; resumed if it exists.")
    ],
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="Budget per instance, s [each file's own, else 1].")
    ] = None,
    engine: Annotated[EngineName | None, typer.Option(help="[each file's own, else auto].")] = None,
    workers: Workers = None,
    search_workers: SearchWorkers = 1,
    seed: Annotated[int | None, typer.Option(min=0, help="[each file's own, else 0].")] = None,
    backend: Backend_ = BackendName.local,
    address: Address = None,
    kind: Kind = None,
    devices: Devices = None,
    plans: Annotated[bool, typer.Option("--plans", help="Keep each plan in its record.")] = False,
    retry_errors: Annotated[bool, typer.Option("--retry-errors", help="Solve again what errored.")] = False,
    quiet: Quiet = False,
) -> None:
    """Solve every instance once: one JSON line per instance in OUT, a summary table at the end.

    Instances already in OUT are not solved again. Exit 0 when all went well, 1 when a plan failed
    its check or an instance errored, 2 for bad input.
    """
    started = time.monotonic()
    console = _console()
    with _reporting():
        _options(time_limit, seed)
        loading = _loading(kind, devices, plans)
        settings = Settings(
            time_limit_s=time_limit,
            engine=None if engine is None else engine.value,
            seed=seed,
            workers=search_workers,
        )
        expansion = _expand(paths, loading)
        runner = _backend(backend, workers, address, len(expansion.items))
        try:
            outcome = run_batch(
                expansion.items, out, settings, runner, loading, retry_errors, progress=not quiet
            )
        finally:
            runner.close()
    print_summary(outcome, out, time.monotonic() - started, console)
    if not outcome.ok:
        raise typer.Exit(EXIT_FAILED)


def compare(
    paths: Paths,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", file_okay=False, help="Directory: results.jsonl (resumed), CSV, summary, plots."
        ),
    ],
    engines: Annotated[str, typer.Option(help=f"Comma-separated, of {', '.join(cmp.ENGINES)}.")] = ENGINES,
    time_limits: Annotated[
        str, typer.Option("--time-limits", help="Comma-separated budgets per solve, s.")
    ] = TIME_LIMITS,
    workers: Workers = None,
    search_workers: SearchWorkers = 1,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    backend: Backend_ = BackendName.local,
    address: Address = None,
    kind: Kind = None,
    devices: Devices = None,
    quiet: Quiet = False,
) -> None:
    """Every engine x budget on every instance: writes results.csv, summary.md (wins, mean deviation
    from the best plan found, mean gap, time) and PNG plots (objective vs budget, gap, time vs size).

    Exit 0 when all went well, 1 when a plan failed its check or a run errored, 2 for bad input.
    """
    started = time.monotonic()
    console = _console()
    with _reporting():
        engine_list = _list("--engines", engines, str)
        if bad := [e for e in engine_list if e not in cmp.ENGINES]:
            raise InputError([f"--engines: unknown {', '.join(bad)} (known: {', '.join(cmp.ENGINES)})"])
        limits = _list("--time-limits", time_limits, float)
        for limit in limits:
            _options(limit, seed, flag="--time-limits")
        loading = _loading(kind, devices, False)
        expansion = _expand(paths, loading)
        runs = len(expansion.items) * len(engine_list) * len(limits)
        runner = _backend(backend, workers, address, runs)
        try:
            records = cmp.run_compare(
                expansion.items,
                engine_list,
                limits,
                out_dir=out,
                backend=runner,
                seed=seed,
                workers=search_workers,
                loading=loading,
                progress=not quiet,
            )
        finally:
            runner.close()
        try:
            written = cmp.write_report(records, out)
        except OSError as exc:
            raise InputError([f"{out}: cannot write: {exc.strerror or exc}"]) from None
    rows = cmp.summarize(records, by_kind=False)
    console.print(_compare_table(rows))
    files = ", ".join(str(p) for p in [out / cmp.RESULTS, *written.values()])
    console.print(f"{len(records)} runs in {time.monotonic() - started:.1f} s; wrote {files}", soft_wrap=True)
    problems = [r for r in records if r.status == ERROR or r.check_failed]
    for r in problems:
        what = r.error if r.status == ERROR else "; ".join(r.check_violations[:3])
        label = "error" if r.status == ERROR else "check failed"
        console.print(
            f"[red]{label}[/] {r.id} {r.requested_engine} {r.time_limit_s:g} s: {what}", soft_wrap=True
        )
    if problems:
        raise typer.Exit(EXIT_FAILED)


def _compare_table(rows: list[cmp.Summary]) -> Table:
    table = Table(title="compare", title_justify="left")
    headers = (
        "engine",
        "budget s",
        "runs",
        "wins",
        "plans",
        "optimal",
        "errors",
        "check failed",
        "mean dev. from best",
        "median dev.",
        "mean gap (n)",
        "mean s",
        "max s",
    )
    for header in headers:
        table.add_column(header, justify="left" if header == "engine" else "right")
    for s in rows:
        table.add_row(
            s.engine,
            f"{s.time_limit_s:g}",
            str(s.runs),
            str(s.wins),
            str(s.plans),
            str(s.optimal),
            str(s.errors),
            str(s.check_failed),
            "-" if s.mean_deviation is None else f"{100 * s.mean_deviation:.2f}%",
            "-" if s.median_deviation is None else f"{100 * s.median_deviation:.2f}%",
            "-" if s.mean_gap is None else f"{100 * s.mean_gap:.2f}% ({s.gaps})",
            "-" if s.mean_s is None else f"{s.mean_s:.3f}",
            "-" if s.max_s is None else f"{s.max_s:.3f}",
        )
    return table


# helpers ---------------------------------------------------------------------------------------------


def _console() -> Console:
    """stdout; as wide as the tables need when it is a file or a pipe (rich would wrap at 80)."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


@contextmanager
def _reporting() -> Iterator[None]:
    try:
        yield
    except InputError as exc:
        for line in exc.lines:
            typer.secho(line, fg="red", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _options(time_limit: float | None, seed: int | None, flag: str = "--time-limit") -> None:
    given = {"time_limit_s": time_limit, "seed": seed}
    try:
        SolveOptions.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        names = {"time_limit_s": flag, "seed": "--seed"}
        raise InputError(
            [f"{names.get(str(e['loc'][0]), e['loc'][0])}: {e['msg']}" for e in exc.errors()]
        ) from None


def _loading(kind: str | None, devices: str | None, plans: bool) -> Loading:
    if kind is not None:
        check_kind(kind)
    return Loading(kind=kind, devices=devices, keep_plans=plans)


def _expand(paths: list[str], loading: Loading) -> Expansion:
    expansion = expand(paths, loading.kind, loading.devices)
    for line in describe_skipped(expansion.skipped):
        typer.secho(line, fg="yellow", err=True)
    if not expansion.items:
        raise InputError([f"{' '.join(paths)}: no instances found"])
    return expansion


def _backend(name: BackendName, workers: int | None, address: str | None, tasks: int) -> Backend:
    if name is BackendName.local:
        # no more processes than tasks: each one costs a second or so to start
        cap = min(workers or os.cpu_count() or 1, max(1, tasks))
        return make_backend("local", cap, address)
    return make_backend("ray", workers, address)


def _list(flag: str, text: str, cast: type) -> list:  # type: ignore[type-arg]
    values = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            values.append(cast(part))
        except ValueError:
            raise InputError([f"{flag}: {part!r} is not a {cast.__name__}"]) from None
    if not values:
        raise InputError([f"{flag}: give at least one value"])
    return values


__all__ = ["batch", "compare"]
