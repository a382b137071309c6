"""`schedopt batch`: every instance once, each plan re-checked, resumable, exit codes that mean
something, and the same records whatever the backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import solver
from service.cli import app
from service.inputs import read_benchmark
from service.planning import work
from service.planning.backends import InlineBackend, LocalBackend
from service.planning.batch import run_batch
from service.planning.records import Record, ResultsFile, read_records
from service.planning.runner import Settings
from solver.engine.family import CheckReport

runner = CliRunner()
KNOWN = {  # optima: ft06 (Muth & Thompson), j301_1 (PSPLIB j30opt), the others in their MANIFEST.json
    "instances/workflow/ft06.txt": {"makespan": 55.0},
    "instances/workflow/j301_1.sm": {"makespan": 43.0},
    "instances/workflow/example.json": {"weighted_tardiness": 6.0, "makespan": 11.0},
}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_batch_cli_solves_checks_and_summarises(folder: Path, in_tmp: Path):
    out = in_tmp / "results.jsonl"
    result = runner.invoke(app, ["batch", "instances", "--time-limit", "2", "--workers", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = {r["id"]: r for r in lines(out)}
    assert len(records) == 5
    for rid, r in records.items():
        assert r["status"] == "optimal" and r["check_ok"] is True and r["error"] is None, r
        assert r["workers"] == 1 and r["time_limit_s"] == 2 and r["seed"] == 0
        assert r["times"]["total_s"] <= 2 + 0.05
        assert r["size"] > 0 and r["gap"] == 0.0
        if rid in KNOWN:
            assert r["objective"] == KNOWN[rid]
    assert "skipped instances/workflow/MANIFEST.json" in result.stderr
    assert "5 solved" in result.stdout and "optimal" in result.stdout  # the summary table


def test_resume_skips_what_is_done_and_survives_a_torn_line(folder: Path, in_tmp: Path):
    out = in_tmp / "r.jsonl"
    first = run_batch(["instances/workflow"], out, Settings(time_limit_s=1), InlineBackend())
    assert len(first.solved) == 3 and first.ok
    kept = out.read_text()
    out.write_text(kept + '{"id": "instances/workflow/j3')  # killed in the middle of a line
    again = run_batch(["instances"], out, Settings(time_limit_s=1), InlineBackend())
    assert {r.id for r in again.solved} == {"instances/batching/tiny.json", "instances/pipeline/example.json"}
    assert again.resumed == 3 and len(again.records) == 5 and again.ok
    assert len(read_records(out)) == 5  # the torn line is passed over, the next record on a line of its own
    nothing = run_batch(["instances"], out, Settings(time_limit_s=1), InlineBackend())
    assert nothing.solved == [] and nothing.resumed == 5
    other = run_batch(["instances"], out, Settings(time_limit_s=3), InlineBackend())
    assert other.solved == [] and len(other.stale) == 5  # said, not silently mixed


def test_errors_exit_1_and_retry(folder: Path, in_tmp: Path):
    bad = in_tmp / "instances" / "workflow" / "broken.json"
    bad.write_text(json.dumps({"kind": "workflow", "instance": {"tasks": [{"id": "a"}]}}))
    out = in_tmp / "e.jsonl"
    result = runner.invoke(
        app, ["batch", "instances/workflow", "instances/workflow/build.py", "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    errors = {r["id"]: r["error"] for r in lines(out) if r["status"] == "error"}
    assert set(errors) == {"instances/workflow/broken.json", "instances/workflow/build.py"}
    assert "tasks[0].modes: Field required" in errors["instances/workflow/broken.json"]  # names the path
    assert "not an instance file" in errors["instances/workflow/build.py"]
    assert "error instances/workflow/broken.json" in result.stdout
    bad.write_text((in_tmp / "instances" / "workflow" / "example.json").read_text())
    still = run_batch(["instances/workflow/broken.json"], out, backend=InlineBackend())
    assert not still.ok and still.solved == []  # resumed: the old error stands until retried
    fixed = run_batch(["instances/workflow/broken.json"], out, backend=InlineBackend(), retry_errors=True)
    assert fixed.ok and fixed.records[0].status == "optimal"


def test_bad_input_exits_2_before_solving(folder: Path, in_tmp: Path):
    cases = [
        (["batch", "nowhere/", "-o", "x.jsonl"], "nowhere/: no such file or directory"),
        (
            ["batch", "instances", "-o", "x.jsonl", "--time-limit", "0"],
            "--time-limit: Input should be greater",
        ),
        (["batch", "instances", "-o", "x.jsonl", "--kind", "quantum"], "--kind: unknown kind 'quantum'"),
        (["batch", "instances", "-o", "x.jsonl", "--address", "auto"], "--address: only with --backend ray"),
        (["batch", "instances/workflow/MANIFEST.json", "instances/*.md", "-o", "x.jsonl"], "instances/*.md"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
    assert not (in_tmp / "x.jsonl").exists()


def test_a_plan_that_fails_the_recheck_is_recorded_and_fails_the_batch(
    folder: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
):
    real = solver.check

    def planted(kind, instance, plan):  # the re-check disagrees with solve()'s own check
        report = real(kind, instance, plan)
        return CheckReport(["task 3 starts before task 1 ends"], {**report.objective, "makespan": 1.0})

    monkeypatch.setattr(work.solver, "check", planted)
    out = in_tmp / "f.jsonl"
    outcome = run_batch(["instances/workflow/ft06.txt"], out, backend=InlineBackend())
    (record,) = outcome.records
    assert record.check_ok is False and not outcome.ok and outcome.check_failures == [record]
    assert record.check_violations == [
        "task 3 starts before task 1 ends",
        "objective makespan: reported 55, the checker computes 1",
    ]


def test_a_crash_in_a_family_is_an_error_record_not_a_dead_batch(
    folder: Path, in_tmp: Path, monkeypatch: pytest.MonkeyPatch
):
    def boom(request, started=None):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(work.solver, "solve", boom)
    outcome = run_batch(["instances/workflow"], in_tmp / "c.jsonl", backend=InlineBackend())
    assert [r.status for r in outcome.records] == ["error"] * 3
    assert outcome.records[0].error is not None and outcome.records[0].error.startswith("ZeroDivisionError")


def test_plans_are_kept_on_request_and_check(folder: Path, in_tmp: Path):
    out = in_tmp / "p.jsonl"
    result = runner.invoke(app, ["batch", "instances/workflow/ft06.txt", "--plans", "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    (r,) = lines(out)
    instance = read_benchmark(in_tmp / "instances/workflow/ft06.txt", "jobshop")
    assert solver.check("workflow", instance, r["plan"]).objective == {"makespan": 55.0}


def test_local_processes_give_the_records_of_a_single_process(folder: Path, in_tmp: Path):
    settings = Settings(time_limit_s=2, seed=7)
    inline = run_batch(["instances"], in_tmp / "a.jsonl", settings, InlineBackend())
    pool = LocalBackend(2)
    try:
        local = run_batch(["instances"], in_tmp / "b.jsonl", settings, pool)
    finally:
        pool.close()
    assert comparable(inline.records) == comparable(local.records)


def comparable(records: list[Record]) -> dict[str, dict]:
    return {r.id: r.comparable() for r in records}


def test_results_file_appends_whole_lines(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    record = Record(id="a", instance="a", format="json", status="optimal")
    with ResultsFile(path) as f:
        f.append(record)
    with ResultsFile(path) as f:
        f.append(record.model_copy(update={"status": "feasible"}))
    assert [r.status for r in read_records(path)] == ["optimal", "feasible"]
