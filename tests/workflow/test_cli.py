"""`schedopt solve FILE --format psplib|jobshop` reads benchmark files directly; `generate workflow`
writes requests that solve; bad files exit 2 naming the file and the line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import solver
from service.cli import app
from tests.workflow.conftest import DATA, JOBSHOP, PSPLIB, j30_optima, jobshop, psplib

runner = CliRunner()


def test_solve_psplib_file():
    result = runner.invoke(
        app,
        ["solve", str(PSPLIB / "j3013_4.sm"), "--format", "psplib", "--time-limit", "2", "--workers", "2"],
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["kind"] == "workflow" and body["status"] == "optimal"
    assert body["objective"] == {"makespan": j30_optima()["j3013_4"]}
    assert [t["id"] for t in body["plan"]["tasks"]] == [str(j) for j in range(1, 33)]
    assert solver.check("workflow", psplib("j3013_4"), body["plan"]).ok


def test_solve_jobshop_file_to_out(tmp_path: Path):
    out = tmp_path / "ft06.json"
    result = runner.invoke(app, ["solve", str(JOBSHOP / "ft06.txt"), "--format", "jobshop", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert "optimal (cpsat)" in result.stderr
    body = json.loads(out.read_text())
    assert body["objective"] == {"makespan": 55}
    assert body["plan"]["tasks"][0]["id"] == "j0-o0"
    assert solver.check("workflow", jobshop("ft06"), body["plan"]).ok


def test_solve_multi_mode_psplib_with_the_heuristic():
    result = runner.invoke(
        app, ["solve", str(DATA / "tiny.mm"), "--format", "psplib", "--engine", "heuristic"]
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["engine"] == "heuristic" and body["plan"]["consumed"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["solve", str(JOBSHOP / "ft06.txt"), "--format", "psplib"], "no 'PRECEDENCE RELATIONS' section"),
        (["solve", str(PSPLIB / "j301_1.sm"), "--format", "jobshop"], "expected"),
        (["solve", str(PSPLIB / "missing.sm"), "--format", "psplib"], "cannot read"),
        (["solve", str(PSPLIB / "j301_1.sm"), "--format", "psplib", "--kind", "pods"], "--format psplib"),
        (["solve", str(PSPLIB / "j301_1.sm"), "--format", "xml"], "xml"),
    ],
    ids=["jobshop as psplib", "psplib as jobshop", "missing file", "wrong kind", "unknown format"],
)
def test_bad_benchmark_files_exit_2(args: list[str], expected: str):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert expected in result.stderr and result.stdout == ""


def test_psplib_error_names_the_line(tmp_path: Path):
    text = (PSPLIB / "j301_1.sm").read_text().replace("  2      1     8       4", "  2      1     x       4")
    path = tmp_path / "bad.sm"
    path.write_text(text)
    result = runner.invoke(app, ["solve", str(path), "--format", "psplib"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: line 56: expected integers")


@pytest.mark.parametrize("preset", ["agentic", "migration", "training"])
def test_generated_workflow_requests_solve_and_check(tmp_path: Path, preset: str):
    request = tmp_path / "request.json"
    result = runner.invoke(
        app,
        [
            "generate",
            "workflow",
            "--preset",
            preset,
            "--size",
            "2",
            "--time-limit",
            "0.5",
            "-o",
            str(request),
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(request.read_text())["options"] == {"time_limit_s": 0.5}
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["solve", str(request), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    result = runner.invoke(app, ["check", str(request), str(out)])
    assert result.exit_code == 0, result.stdout
    assert "feasible: no violations" in result.stdout
