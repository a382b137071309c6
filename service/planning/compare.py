"""`schedopt compare`: every engine x budget on every instance, and the reports made from the records.

Python API (what the notebooks use):

    records = run_compare(["instances/workflow"], engines=["cpsat", "ilp", "heuristic"],
                          time_limits=[0.1, 1.0], out_dir=Path("cmp"))    # resumable in cmp/
    rows = analyse(records)          # one Row per record: deviation from the best found, win
    table = summarize(records)       # one Summary per (kind, engine, budget)
    write_report(records, Path("cmp"))   # results.csv, summary.md and the PNG plots

Quality is compared lexicographically, component by component in the family's priority order and
sense, never by a weighted sum: `deviation` is the relative difference from the best plan any engine
found for the instance (at any budget), on the first component where the two differ (the same measure
as a result's `gap`, with the best found in place of the bound); a `win` is a plan that no other
engine beat on the same instance at the same budget (ties win together). `gap` is the solver's own,
against the best bound it proved.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.common import EngineName
from service.planning.backends import Backend, InlineBackend
from service.planning.records import ERROR, Record, ResultsFile, latest, read_records
from service.planning.runner import Job, Loading, ProgressView, Settings, execute
from service.planning.sources import Item, expand
from solver.engine import objective as lex

ENGINES = tuple(e.value for e in EngineName)
DEFAULT_ENGINES = ("cpsat", "ilp", "heuristic")
DEFAULT_TIME_LIMITS = (0.1, 1.0)
RESULTS = "results.jsonl"
CSV_FILE = "results.csv"
SUMMARY = "summary.md"
PLOTS = ("objective_vs_budget.png", "gap_vs_budget.png", "time_vs_size.png")


def compare_key(record: Record) -> Hashable:
    return (record.id, record.requested_engine, record.time_limit_s)


def run_compare(
    paths: Iterable[str | Path | Item],
    engines: Sequence[str] = DEFAULT_ENGINES,
    time_limits: Sequence[float] = DEFAULT_TIME_LIMITS,
    *,
    out_dir: Path | None = None,
    backend: Backend | None = None,
    seed: int = 0,
    workers: int = 1,
    loading: Loading | None = None,
    progress: bool = False,
) -> list[Record]:
    """Solve every instance with every engine at every budget; the records in instance, budget and
    engine order. With `out_dir`, records are appended to out_dir/results.jsonl as they arrive and the
    ones already there are not solved again. `workers`: CP-SAT search workers per solve (1 is
    deterministic with the seed); `backend`: where the solves run (default: this process, one by one)."""
    loading = loading or Loading()
    bad = [e for e in engines if e not in ENGINES]
    if bad or not engines:
        raise ValueError(f"engines: unknown {bad} (known: {', '.join(ENGINES)})" if bad else "engines: none")
    if not time_limits or any(not 0 < t <= 600 for t in time_limits):
        raise ValueError(f"time_limits: each must be in (0, 600] s, got {list(time_limits)}")
    items = expand(paths, loading.kind, loading.devices).items
    jobs = [
        Job(
            item,
            Settings(time_limit_s=float(t), engine=e, seed=seed, workers=workers),
            (item.id, e, float(t)),
        )
        for item in items
        for t in time_limits
        for e in engines
    ]
    earlier: dict[Hashable, Record] = {}
    if out_dir is not None:
        earlier = latest(read_records(out_dir / RESULTS), compare_key)
        jobs = [job for job in jobs if job.key not in earlier]
    backend = backend or InlineBackend()
    with ProgressView("compare", jobs, enabled=progress) as view:
        if out_dir is None:
            solved = execute(jobs, backend, loading, lambda r: None, view)
        else:
            with ResultsFile(out_dir / RESULTS) as results:
                solved = execute(jobs, backend, loading, results.append, view)
    found = {**earlier, **{compare_key(r): r for r in solved}}
    order = [(item.id, e, float(t)) for item in items for t in time_limits for e in engines]
    return [found[k] for k in order if k in found]


# analysis -------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One record with what only the whole comparison knows."""

    record: Record
    deviation: float | None  # from the best plan found for the instance by any engine at any budget
    win: bool  # no engine found a better plan for the instance at this budget


def usable(record: Record) -> bool:
    return record.has_plan and record.check_ok is True and bool(record.objective)


def analyse(records: Sequence[Record]) -> list[Row]:
    by_instance: dict[str, list[Record]] = {}
    for record in records:
        by_instance.setdefault(record.id, []).append(record)
    best = {i: _best(rs) for i, rs in by_instance.items()}
    best_at: dict[tuple[str, float | None], dict[str, float] | None] = {}
    for i, rs in by_instance.items():
        for t in {r.time_limit_s for r in rs}:
            best_at[(i, t)] = _best([r for r in rs if r.time_limit_s == t])
    rows = []
    for record in records:
        deviation, win = None, False
        if usable(record):
            senses: lex.Senses = record.objective_sense  # type: ignore[assignment]
            reference = best[record.id]
            if reference is not None:
                deviation = _deviation(record.objective, reference, senses)
            at = best_at[(record.id, record.time_limit_s)]
            win = at is not None and lex.no_worse(record.objective, at, senses)
        rows.append(Row(record, deviation, win))
    return rows


def _best(records: Sequence[Record]) -> dict[str, float] | None:
    out: dict[str, float] | None = None
    for record in records:
        if usable(record) and (out is None or lex.better(record.objective, out, record.objective_sense)):  # type: ignore[arg-type]
            out = record.objective
    return out


def _deviation(obj: dict[str, float], best: dict[str, float], senses: lex.Senses) -> float:
    try:
        return lex.gap(obj, best, senses) or 0.0
    except ValueError:  # better than the best: cannot happen, the best is the best of these
        return 0.0


@dataclass
class Summary:
    kind: str
    engine: str
    time_limit_s: float
    runs: int
    plans: int
    optimal: int
    infeasible: int
    errors: int
    check_failed: int
    wins: int
    mean_deviation: float | None
    median_deviation: float | None  # one instance whose best is near 0 can carry the mean
    mean_gap: float | None
    gaps: int  # runs with a gap (a bound): what mean_gap averages
    mean_s: float | None
    max_s: float | None


def summarize(records: Sequence[Record], by_kind: bool = True) -> list[Summary]:
    """Per (kind, engine, budget) — or per (engine, budget) over all kinds with by_kind=False."""
    groups: dict[tuple[str, str, float], list[Row]] = {}
    for row in analyse(records):
        r = row.record
        kind = (r.kind or "?") if by_kind else "all"
        groups.setdefault((kind, r.requested_engine or "?", r.time_limit_s or 0.0), []).append(row)
    out = []
    for (kind, engine, limit), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][2], kv[0][1])):
        recs = [row.record for row in rows]
        devs = [row.deviation for row in rows if row.deviation is not None]
        gaps = [r.gap for r in recs if r.gap is not None]
        times = [r.times["total_s"] for r in recs if "total_s" in r.times]
        out.append(
            Summary(
                kind=kind,
                engine=engine,
                time_limit_s=limit,
                runs=len(recs),
                plans=sum(usable(r) for r in recs),
                optimal=sum(r.status == "optimal" for r in recs),
                infeasible=sum(r.status == "infeasible" for r in recs),
                errors=sum(r.status == ERROR for r in recs),
                check_failed=sum(r.check_failed for r in recs),
                wins=sum(row.win for row in rows),
                mean_deviation=statistics.fmean(devs) if devs else None,
                median_deviation=statistics.median(devs) if devs else None,
                mean_gap=statistics.fmean(gaps) if gaps else None,
                gaps=len(gaps),
                mean_s=statistics.fmean(times) if times else None,
                max_s=max(times) if times else None,
            )
        )
    return out


# reports --------------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "id",
    "kind",
    "instance",
    "format",
    "size",
    "requested_engine",
    "time_limit_s",
    "status",
    "engine",
    "method",
    "primary",
    "primary_value",
    "objective",
    "bound",
    "gap",
    "deviation",
    "win",
    "check_ok",
    "total_s",
    "solve_s",
    "wall_s",
    "variables",
    "constraints",
    "error",
)


def table_rows(records: Sequence[Record]) -> list[dict[str, Any]]:
    """Flat rows (the CSV's): one per record, JSON-encoded objective and bound."""
    out = []
    for row in analyse(records):
        r = row.record
        primary = next(iter(r.objective), None)
        out.append(
            {
                "id": r.id,
                "kind": r.kind,
                "instance": r.instance,
                "format": r.format,
                "size": r.size,
                "requested_engine": r.requested_engine,
                "time_limit_s": r.time_limit_s,
                "status": r.status,
                "engine": r.engine,
                "method": r.method,
                "primary": primary,
                "primary_value": r.objective.get(primary) if primary else None,
                "objective": json.dumps(r.objective),
                "bound": json.dumps(r.bound) if r.bound is not None else None,
                "gap": r.gap,
                "deviation": row.deviation,
                "win": row.win,
                "check_ok": r.check_ok,
                "total_s": r.times.get("total_s"),
                "solve_s": r.times.get("solve_s"),
                "wall_s": r.times.get("wall_s"),
                "variables": r.variables,
                "constraints": r.constraints,
                "error": r.error,
            }
        )
    return out


def write_csv(records: Sequence[Record], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in table_rows(records):
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return path


def summary_markdown(records: Sequence[Record], title: str = "Solver comparison", machine: str = "") -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}%"

    def sec(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    header = (
        "| kind | engine | budget s | runs | wins | plans | optimal | infeasible | errors | check failed "
        "| mean dev. from best | median dev. | mean gap (n) | mean s | max s |"
    )
    lines = [f"# {title}", ""]
    if machine:
        lines += [f"Measured {machine}.", ""]
    instances = sorted({r.id for r in records})
    lines += [
        f"{len(instances)} instances, {len(records)} runs. *wins*: runs whose plan no engine beat on the "
        "same instance at the same budget (ties win together); *dev. from best*: relative distance to the "
        "best plan found by any engine at any budget, on the first objective component where they differ; "
        "*gap*: the solver's own, against the bound it proved (n: runs with a bound); *s*: the solver's "
        "total time, budget included.",
        "",
    ]
    sections = [(False, "All instances")]
    if len({r.kind for r in records}) > 1:
        sections.append((True, "By family"))
    for by_kind, heading in sections:
        rows = summarize(records, by_kind=by_kind)
        lines += [f"## {heading}", "", header, "|" + "---|" * 15]
        for s in rows:
            lines.append(
                f"| {s.kind} | {s.engine} | {s.time_limit_s:g} | {s.runs} | {s.wins} | {s.plans} "
                f"| {s.optimal} | {s.infeasible} | {s.errors} | {s.check_failed} "
                f"| {pct(s.mean_deviation)} | {pct(s.median_deviation)} "
                f"| {pct(s.mean_gap)} ({s.gaps}) | {sec(s.mean_s)} | {sec(s.max_s)} |"
            )
        lines.append("")
    problems = [r for r in records if r.status == ERROR or r.check_failed]
    if problems:
        lines += ["## Errors and failed checks", ""]
        for r in problems:
            what = r.error if r.status == ERROR else "; ".join(r.check_violations[:3])
            lines.append(f"- `{r.id}` {r.requested_engine} {r.time_limit_s:g} s: {what}")
        lines.append("")
    return "\n".join(lines)


def write_markdown(records: Sequence[Record], path: Path, title: str = "Solver comparison") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(summary_markdown(records, title, machine()))
    return path


def write_plots(records: Sequence[Record], out_dir: Path) -> list[Path]:
    """objective_vs_budget.png, gap_vs_budget.png, time_vs_size.png: one panel per family. Drawn on bare
    Figures (no pyplot), so the caller's matplotlib backend, e.g. a notebook's inline one, is left alone."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = analyse(records)
    kinds = sorted({row.record.kind or "?" for row in rows}) or ["-"]
    engines = sorted({row.record.requested_engine or "?" for row in rows})
    colours = {e: f"C{i}" for i, e in enumerate(engines)}
    paths = []

    def panels(title: str) -> tuple[Any, list[Any]]:
        fig = Figure(figsize=(4.2 * len(kinds), 3.6))
        axes = fig.subplots(1, len(kinds), squeeze=False)
        fig.suptitle(title)
        return fig, list(axes[0])

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=110)
        paths.append(out_dir / name)

    for name, title, value, ylabel in (
        (
            PLOTS[0],
            "Objective vs budget",
            lambda row: row.deviation,
            "deviation from best found (%)",
        ),
        (PLOTS[1], "Proven gap vs budget", lambda row: row.record.gap, "mean gap to the bound (%)"),
    ):
        fig, axes = panels(title)
        for ax, kind in zip(axes, kinds, strict=True):
            for engine in engines:
                points: dict[float, list[float]] = {}
                for row in rows:
                    r = row.record
                    v = value(row)
                    if (r.kind or "?") == kind and r.requested_engine == engine and v is not None:
                        points.setdefault(r.time_limit_s or 0.0, []).append(100 * v)
                if points:
                    xs = sorted(points)
                    ax.plot(
                        xs,
                        [statistics.fmean(points[x]) for x in xs],
                        "o-",
                        color=colours[engine],
                        label=engine,
                    )
            budgets = sorted({row.record.time_limit_s for row in rows if row.record.time_limit_s})
            ax.set_xscale("log")
            ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(kind)
            ax.set_xlabel("time limit (s)")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            if ax.lines:
                ax.legend(fontsize="small")
        save(fig, name)

    fig, axes = panels("Solve time vs instance size")
    limits = sorted({row.record.time_limit_s or 0.0 for row in rows})
    markers = {t: "os^vDP*X"[i % 8] for i, t in enumerate(limits)}
    for ax, kind in zip(axes, kinds, strict=True):
        for engine in engines:
            for t in limits:
                pts = [
                    (row.record.size, row.record.times["total_s"])
                    for row in rows
                    if (row.record.kind or "?") == kind
                    and row.record.requested_engine == engine
                    and row.record.time_limit_s == t
                    and row.record.size
                    and "total_s" in row.record.times
                ]
                if pts:
                    ax.scatter(
                        [p[0] for p in pts],
                        [p[1] for p in pts],
                        color=colours[engine],
                        marker=markers[t],
                        alpha=0.7,
                        label=f"{engine} {t:g} s",
                    )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(kind)
        ax.set_xlabel("instance size (items)")
        ax.set_ylabel("solver time (s)")
        ax.grid(True, alpha=0.3)
        if ax.collections:
            ax.legend(fontsize="x-small")
    save(fig, PLOTS[2])
    return paths


def write_report(
    records: Sequence[Record], out_dir: Path, title: str = "Solver comparison"
) -> dict[str, Path]:
    """results.csv, summary.md and the three PNG plots in out_dir."""
    written = {
        "csv": write_csv(records, out_dir / CSV_FILE),
        "markdown": write_markdown(records, out_dir / SUMMARY, title),
    }
    for path in write_plots(records, out_dir):
        written[path.stem] = path
    return written


def machine() -> str:
    import datetime
    import os
    import platform

    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    today = datetime.date.today().isoformat()
    return f"{today}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def as_dicts(summaries: Sequence[Summary]) -> list[dict[str, Any]]:
    return [asdict(s) for s in summaries]
