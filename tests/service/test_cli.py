"""The `schedopt` command: exit codes, where errors point, and files that round-trip between commands."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import solver
from models.pods import PodsInstance
from service.cli import app

SOLVED = {"optimal", "feasible", "fallback"}
Body = dict[str, Any]
runner = CliRunner()


def write(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


def solve_to_file(tmp_path: Path, request: Body) -> Path:
    out = tmp_path / "result.json"
    result = runner.invoke(app, ["solve", str(write(tmp_path / "request.json", request)), "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    return out


def test_solve_prints_a_checked_result(tmp_path: Path, request_data: Body) -> None:
    result = runner.invoke(app, ["solve", str(write(tmp_path / "r.json", request_data))])
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] in SOLVED
    assert solver.check("pods", request_data["instance"], body["plan"]).ok


def test_solve_writes_out(tmp_path: Path, request_data: Body) -> None:
    request = write(tmp_path / "r.json", request_data)
    result = runner.invoke(app, ["solve", str(request), "-o", str(tmp_path / "o.json")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    body = json.loads((tmp_path / "o.json").read_text())
    assert body["status"] in SOLVED
    assert solver.check("pods", request_data["instance"], body["plan"]).ok


def test_flags_override_a_bare_instance(tmp_path: Path, request_data: Body) -> None:
    bare = write(tmp_path / "instance.json", request_data["instance"])
    flags = ["--engine", "heuristic", "--time-limit", "0.2", "--progress"]
    result = runner.invoke(app, ["solve", str(bare), "--kind", "pods", *flags])
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["engine"] == "heuristic" and body["progress"]


CPU_1 = ("instance", "pods", 1, "requests", "cpu_m")
BAD = {  # case: (field, bad value, how stderr's first line starts)
    "unknown node": (("instance", "pods", 0, "node"), "node-z", "instance.pods[0].node: "),
    "duplicate pod": (("instance", "pods", 2, "name"), "web-0", "instance.pods[2].name: duplicate pod name"),
    "negative request": (CPU_1, -1, "instance.pods[1].requests.cpu_m: "),
    "fractional request": (CPU_1, 1.5, "instance.pods[1].requests.cpu_m: "),
    "time limit over 600": (("options", "time_limit_s"), 601, "options.time_limit_s: "),
}


@pytest.mark.parametrize("case", BAD)
def test_invalid_request_exits_2_naming_the_field(tmp_path: Path, request_data: Body, case: str) -> None:
    path, value, expected = BAD[case]
    target: Any = request_data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    result = runner.invoke(app, ["solve", str(write(tmp_path / "r.json", request_data))])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(expected)


def test_errors_in_a_bare_instance_are_paths_in_that_file(tmp_path: Path, request_data: Body) -> None:
    request_data["instance"]["pods"][0]["node"] = "node-z"
    bare = write(tmp_path / "instance.json", request_data["instance"])
    result = runner.invoke(app, ["solve", str(bare), "--kind", "pods"])
    assert result.exit_code == 2
    assert result.stderr.startswith("pods[0].node: running pod names an unknown node")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--time-limit", "0"], "--time-limit: "),
        (["--workers", "0"], "--workers: "),
        (["--kind", "nope"], "--kind: unknown kind 'nope'"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    tmp_path: Path, request_data: Body, args: list[str], expected: str
) -> None:
    result = runner.invoke(app, ["solve", str(write(tmp_path / "r.json", request_data)), *args])
    assert result.exit_code == 2
    assert result.stderr.startswith(expected)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "cannot read"), ('{"kind": "pods", ', "not valid JSON"), ('{"nodes": []}', "pass --kind")],
    ids=["missing", "bad JSON", "bare without --kind"],
)
def test_unusable_files_exit_2(tmp_path: Path, content: str | None, expected: str) -> None:
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["solve", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{path}: ") and expected in result.stderr


def test_check_accepts_the_solve_output(tmp_path: Path, request_data: Body) -> None:
    out = solve_to_file(tmp_path, request_data)
    result = runner.invoke(app, ["check", str(tmp_path / "request.json"), str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "no violations" in result.stdout
    objective = json.loads(out.read_text())["objective"]
    assert all(f"{name} = {value:g}" in result.stdout for name, value in objective.items())


def test_check_accepts_a_bare_plan_and_instance(tmp_path: Path, request_data: Body) -> None:
    plan = json.loads(solve_to_file(tmp_path, request_data).read_text())["plan"]
    instance = write(tmp_path / "i.json", request_data["instance"])
    plan_file = write(tmp_path / "p.json", plan)
    result = runner.invoke(app, ["check", str(instance), str(plan_file), "--kind", "pods"])
    assert result.exit_code == 0, result.stdout + result.stderr


def test_check_exits_1_on_an_overloaded_node(tmp_path: Path, request_data: Body) -> None:
    out = solve_to_file(tmp_path, request_data)
    result_body = json.loads(out.read_text())
    assignments = {a["pod"]: a for a in result_body["plan"]["assignments"]}
    assignments["web-1"]["node"] = assignments["web-0"]["node"]  # 600 m + 600 m on a 1000 m node
    write(out, result_body)
    result = runner.invoke(app, ["check", str(tmp_path / "request.json"), str(out)])
    assert result.exit_code == 1
    assert "violations (" in result.stdout and "cpu_m" in result.stdout


def test_check_exits_2_on_a_malformed_plan(tmp_path: Path, request_data: Body) -> None:
    out = solve_to_file(tmp_path, request_data)
    result_body = json.loads(out.read_text())
    del result_body["plan"]["assignments"][0]["pod"]
    write(out, result_body)
    result = runner.invoke(app, ["check", str(tmp_path / "request.json"), str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{out}: plan.assignments[0].pod: ")


def test_check_exits_2_on_an_invalid_instance(tmp_path: Path, request_data: Body) -> None:
    out = solve_to_file(tmp_path, request_data)
    request_data["instance"]["pods"][0]["node"] = "node-z"
    result = runner.invoke(app, ["check", str(write(tmp_path / "request.json", request_data)), str(out)])
    assert result.exit_code == 2
    assert result.stderr.startswith("instance.pods[0].node: ")


PAPER = [
    "generate",
    "pods",
    "--preset",
    "paper",
    "--nodes",
    "3",
    "--pods-per-node",
    "3",
    "--priorities",
    "2",
    "--util",
    "1.05",
    "--seed",
    "1",
    "--time-limit",
    "0.3",
]


def test_generate_paper_writes_a_request_solve_accepts(tmp_path: Path) -> None:
    out = tmp_path / "paper.json"
    assert runner.invoke(app, [*PAPER, "-o", str(out)]).exit_code == 0
    request = json.loads(out.read_text())
    assert request["kind"] == "pods" and request["options"] == {"time_limit_s": 0.3}
    assert len(request["instance"]["nodes"]) == 3 and len(request["instance"]["pods"]) == 9
    assert runner.invoke(app, PAPER).stdout.strip() == out.read_text().strip()  # seeded: the same file again
    result = runner.invoke(app, ["solve", str(out)])
    assert result.exit_code == 0, result.stderr
    assert solver.check("pods", request["instance"], json.loads(result.stdout)["plan"]).ok


def test_generate_rejects_flags_of_the_other_preset() -> None:
    result = runner.invoke(app, ["generate", "pods", "--preset", "paper", "--running", "10"])
    assert result.exit_code == 2
    assert result.stderr.startswith("--running: only for --preset alibaba")


def test_generate_alibaba_without_the_trace_loader_exits_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "solver.pods.trace", None)  # makes the import fail
    result = runner.invoke(app, ["generate", "pods", "--preset", "alibaba", "--running", "10"])
    assert result.exit_code == 2
    assert "trace loader is missing" in result.stderr


def test_generate_alibaba_passes_its_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def alibaba_snapshot(**kwargs: Any) -> PodsInstance:
        calls.append(kwargs)
        nodes = [{"name": "n", "capacity": {"cpu_m": 1}}]
        return PodsInstance.model_validate({"nodes": nodes, "pods": [{"name": "p"}]})

    fake = types.ModuleType("solver.pods.trace")
    fake.alibaba_snapshot = alibaba_snapshot  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "solver.pods.trace", fake)
    flags = ["--running", "50", "--pending", "5", "--sample-nodes", "8", "--lifetimes", "trace"]
    result = runner.invoke(app, ["generate", "pods", "--preset", "alibaba", *flags, "--seed", "3"])
    assert result.exit_code == 0, result.stderr
    assert calls == [{"running": 50, "pending": 5, "nodes": 8, "lifetimes": "trace", "seed": 3}]
    assert json.loads(result.stdout)["instance"]["pods"] == [{"name": "p"}]


def test_serve_runs_uvicorn_with_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn
    from fastapi import FastAPI

    from service import logs

    calls: list[tuple[Any, dict[str, Any]]] = []
    levels: list[str] = []
    monkeypatch.setattr(uvicorn, "run", lambda app_, **kwargs: calls.append((app_, kwargs)))
    monkeypatch.setattr(logs, "configure", levels.append)  # the real one reconfigures this process
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "8123", "--workers", "3"])
    assert result.exit_code == 0, result.stderr
    [(served, kwargs)] = calls
    assert isinstance(served, FastAPI) and served.state.settings.workers == 3
    assert (kwargs["host"], kwargs["port"]) == ("0.0.0.0", 8123)
    assert kwargs["log_config"] is None and kwargs["access_log"] is False  # JSON lines from our handler
    assert levels == ["info"]


def test_serve_names_a_bad_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.settings import get_settings

    monkeypatch.setenv("SCHEDOPT_WORKERS", "0")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.startswith("SCHEDOPT_WORKERS: ")
