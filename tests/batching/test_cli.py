"""`schedopt generate batching` writes requests that solve; `schedopt solve` and `check` take them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import solver
from service.cli import app

runner = CliRunner()
INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "batching"


def test_generate_tiny_then_solve(tmp_path: Path):
    req = tmp_path / "tiny.json"
    result = runner.invoke(app, ["generate", "batching", "--preset", "tiny", "--seed", "3", "-o", str(req)])
    assert result.exit_code == 0, result.stderr
    assert "batching (tiny): 3 running, 4 waiting" in result.stderr
    out = runner.invoke(app, ["solve", str(req), "--time-limit", "1", "--workers", "1"])
    assert out.exit_code == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["kind"] == "batching" and body["status"] in ("optimal", "infeasible")
    if body["plan"] is not None:
        assert solver.check("batching", json.loads(req.read_text())["instance"], body["plan"]).ok


def test_generate_azure_step_and_solve_with_the_heuristic(tmp_path: Path):
    req = tmp_path / "azure.json"
    result = runner.invoke(
        app, ["generate", "batching", "--waiting", "60", "--running", "20", "--seed", "1", "-o", str(req)]
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(req.read_text())
    assert len(data["instance"]["waiting"]) == 60 and len(data["instance"]["running"]) == 20
    out = runner.invoke(app, ["solve", str(req), "--engine", "heuristic"])
    assert out.exit_code == 0, out.stderr
    body = json.loads(out.stdout)
    assert body["engine"] == "heuristic" and body["baseline"]["name"] == "vllm-v1-fcfs"


def test_check_the_shipped_example(tmp_path: Path):
    example = INSTANCES / "example.json"
    solved = runner.invoke(app, ["solve", str(example), "-o", str(tmp_path / "result.json")])
    assert solved.exit_code == 0, solved.stderr
    checked = runner.invoke(app, ["check", str(example), str(tmp_path / "result.json")])
    assert checked.exit_code == 0, checked.stdout
    assert "score = 2990" in checked.stdout and "feasible: no violations" in checked.stdout
    plan = json.loads((tmp_path / "result.json").read_text())["plan"]
    plan["admit"].append("w0")
    (tmp_path / "bad.json").write_text(json.dumps(plan))
    bad = runner.invoke(app, ["check", str(example), str(tmp_path / "bad.json")])
    assert bad.exit_code == 1 and "chunk of admitted w0 is 0" in bad.stdout


def test_shipped_instances_match_their_manifest():
    manifest = json.loads((INSTANCES / "MANIFEST.json").read_text())
    for entry in manifest["instances"]:
        req = json.loads((INSTANCES / entry["file"]).read_text())
        assert req["kind"] == "batching"
        inst = solver.validate("batching", req["instance"])
        assert (
            len(inst.running) == entry["sizes"]["running"] and len(inst.waiting) == entry["sizes"]["waiting"]
        )
        r = solver.solve({**req, "options": {"time_limit_s": 0.2, "engine": "heuristic"}})
        known = entry["known"]["baselines"]
        assert {b.name: b.objective["score"] for b in r.baselines} == {
            k: v["score"] for k, v in known.items()
        }
