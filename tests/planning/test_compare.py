"""`schedopt compare`: engines x budgets on every instance, lexicographic wins and deviations from
the best plan found, and the CSV, Markdown and PNG reports."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.planning import compare as cmp
from service.planning.records import Record

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_run_compare_on_known_optima(folder: Path, in_tmp: Path):
    records = cmp.run_compare(
        ["instances/workflow/ft06.txt", "instances/batching/tiny.json"],
        engines=["cpsat", "heuristic"],
        time_limits=[0.5, 2],
    )
    keys = [(r.instance, r.time_limit_s, r.requested_engine) for r in records]
    assert keys == [
        (name, t, e) for name in ("ft06", "tiny") for t in (0.5, 2.0) for e in ("cpsat", "heuristic")
    ]
    assert all(r.check_ok for r in records)
    assert all(r.times["total_s"] <= r.time_limit_s + 0.05 for r in records)
    rows = {
        (r.record.instance, r.record.requested_engine, r.record.time_limit_s): r for r in cmp.analyse(records)
    }
    cpsat, sgs = rows[("ft06", "cpsat", 2.0)], rows[("ft06", "heuristic", 2.0)]
    assert cpsat.record.objective == {"makespan": 55.0} and cpsat.win and cpsat.deviation == 0.0
    baseline = sgs.record.objective["makespan"]
    assert baseline > 55 and not sgs.win and sgs.deviation == pytest.approx((baseline - 55) / 55)
    summary = {(s.kind, s.engine, s.time_limit_s): s for s in cmp.summarize(records)}
    assert summary[("workflow", "cpsat", 2.0)].wins == 1 and summary[("workflow", "heuristic", 2.0)].wins == 0
    assert summary[("workflow", "cpsat", 2.0)].optimal == 1


def test_lexicographic_wins_and_deviation():
    def rec(engine: str, obj: dict[str, float]) -> Record:
        sense = {"placed": "max", "moves": "min"}
        return Record(
            id="i",
            instance="i",
            format="memory",
            kind="pods",
            status="feasible",
            requested_engine=engine,
            time_limit_s=1.0,
            objective=obj,
            objective_sense=sense,
            has_plan=True,
            check_ok=True,
        )

    records = [
        rec("cpsat", {"placed": 10, "moves": 4}),
        rec("ilp", {"placed": 10, "moves": 2}),  # same first tier, fewer moves: best
        rec("heuristic", {"placed": 8, "moves": 0}),  # fewer placed: worse whatever the moves
        Record(id="i", instance="i", format="memory", status="error", requested_engine="x", time_limit_s=1.0),
    ]
    rows = cmp.analyse(records)
    assert [r.win for r in rows] == [False, True, False, False]
    assert [r.deviation for r in rows] == [
        pytest.approx(1.0),
        0.0,
        pytest.approx(0.2),
        None,
    ]  # (4-2)/2, (10-8)/10


def test_reports(tmp_path: Path, folder: Path, in_tmp: Path):
    records = cmp.run_compare(["instances/workflow"], ["cpsat", "heuristic"], [0.2, 1])
    written = cmp.write_report(records, tmp_path / "out")
    assert set(written) == {"csv", "markdown", "objective_vs_budget", "gap_vs_budget", "time_vs_size"}
    for name in cmp.PLOTS:
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG
    with (tmp_path / "out" / cmp.CSV_FILE).open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 12 and tuple(rows[0]) == cmp.CSV_COLUMNS
    ft06 = [r for r in rows if r["instance"] == "ft06" and r["requested_engine"] == "cpsat"]
    assert {r["primary_value"] for r in ft06} == {"55.0"} and {r["win"] for r in ft06} == {"True"}
    md = (tmp_path / "out" / cmp.SUMMARY).read_text()
    assert "| all | cpsat | 1 | 3 | 3 | 3 | 3 |" in md and "Measured " in md


def test_compare_cli_writes_everything_and_resumes(folder: Path, in_tmp: Path):
    args = [
        "compare",
        "instances/workflow/ft06.txt",
        "instances/pipeline",
        "--engines",
        "cpsat,ilp",
        "--time-limits",
        "0.5",
        "--workers",
        "2",
        "-o",
        "cmp",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = in_tmp / "cmp"
    assert {p.name for p in out.iterdir()} == {cmp.RESULTS, cmp.CSV_FILE, cmp.SUMMARY, *cmp.PLOTS}
    assert len((out / cmp.RESULTS).read_text().splitlines()) == 4
    assert "mean dev. from best" in result.stdout
    again = runner.invoke(app, [*args[:-4], "--time-limits", "0.5,1", "-q", "-o", "cmp"])
    assert again.exit_code == 0, again.output
    assert len((out / cmp.RESULTS).read_text().splitlines()) == 8  # only the new budget was solved
    assert "8 runs" in again.stdout


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--engines", "cpsat,gurobi", "--engines: unknown gurobi"),
        ("--time-limits", "1,fast", "--time-limits: 'fast' is not a float"),
        ("--time-limits", "700", "--time-limits: Input should be less than or equal to 600"),
    ],
)
def test_compare_bad_flags_exit_2(folder: Path, in_tmp: Path, flag: str, value: str, message: str):
    result = runner.invoke(app, ["compare", "instances", flag, value, "-o", "cmp"])
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not (in_tmp / "cmp").exists()
