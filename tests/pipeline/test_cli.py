"""`schedopt solve FILE --format pipedream|pipeedge` reads profiles with the device set from flags or a
JSON file; bad flags and files exit 2 saying which."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import solver
from service.cli import app
from tests.pipeline.conftest import INSTANCES, PIPEEDGE

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["solve", *args, "--time-limit", "2", "--workers", "2"])


def test_pipedream_profile_on_identical_devices_in_training():
    result = run(
        str(INSTANCES / "vgg16.graph.txt"),
        "--format",
        "pipedream",
        "--devices",
        "4",
        "--memory-gib",
        "16",
        "--bandwidth-gbps",
        "25",
        "--mode",
        "training",
        "--microbatches",
        "4",
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (
        body["kind"] == "pipeline"
        and body["status"] == "optimal"
        and body["baseline"]["name"] == "pipedream-dp"
    )
    assert body["plan"]["stages"][0]["layers"][0] == 0 and body["plan"]["stages"][-1]["layers"][1] == 39
    assert body["plan"]["stages"][0]["in_flight"] == min(4, len(body["plan"]["stages"]))


def test_pipedream_profile_on_a_device_set_file():
    result = run(
        str(INSTANCES / "gnmt.graph.txt"),
        "--format",
        "pipedream",
        "--devices",
        str(INSTANCES / "devices-hetero.json"),
        "--objective",
        "latency",
    )
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["status"] == "optimal" and list(body["objective"]) == ["latency_ms", "bottleneck_ms"]
    assert {s["device"] for s in body["plan"]["stages"]} <= {
        "a100-0",
        "a100-1",
        "v100-0",
        "v100-1",
        "v100-2",
        "v100-3",
    }


def test_pipeedge_folder_and_models_file(tmp_path):
    out = tmp_path / "r.json"
    result = run(
        str(PIPEEDGE), "--format", "pipeedge", "--model", "google/vit-large-patch16-224", "-o", str(out)
    )
    assert result.exit_code == 0, result.stderr
    assert "optimal (cpsat)" in result.stderr
    body = json.loads(out.read_text())
    assert body["objective"]["bottleneck_ms"] == pytest.approx(5042.833, abs=1e-3)
    result = run(str(PIPEEDGE / "models.yml"), "--format", "pipeedge", "--max-stages", "2")
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["plan"]["stages"]) <= 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["vgg16.graph.txt", "--format", "pipedream"], "--devices: pipedream profiles need a device set"),
        (
            ["vgg16.graph.txt", "--format", "pipedream", "--memory-gib", "8"],
            "--memory-gib: only with --devices N",
        ),
        (
            ["vgg16.graph.txt", "--format", "pipedream", "--devices", "2", "--model", "x"],
            "--model: only with --format pipeedge",
        ),
        (
            ["pipeedge", "--format", "pipeedge", "--mode", "training"],
            "--mode: PipeEdge profiles are forward-only",
        ),
        (["pipeedge", "--format", "pipeedge", "--model", "nope"], "no model 'nope'"),
        (["example.json", "--devices", "2"], "--devices: only with --format pipedream or pipeedge"),
        (["vgg16.graph.txt", "--format", "pipedream", "--devices", "nope.json"], "nope.json: cannot read"),
        (["gnmt.graph.txt", "--format", "pipeedge"], "cannot read"),
    ],
)
def test_bad_flags_and_files_exit_2(args, message):
    args = [str(INSTANCES / args[0]), *args[1:]]
    result = run(*args)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr, result.stderr


def test_shipped_request_and_check_round_trip(tmp_path):
    out = tmp_path / "r.json"
    result = run(str(INSTANCES / "example.json"), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    check = runner.invoke(app, ["check", str(INSTANCES / "example.json"), str(out)])
    assert check.exit_code == 0, check.stdout
    assert "feasible: no violations" in check.stdout and "bottleneck_ms = 649.1" in check.stdout
    body = json.loads(out.read_text())
    body["plan"]["stages"][0]["layers"] = [0, 0]
    out.write_text(json.dumps(body))
    check = runner.invoke(app, ["check", str(INSTANCES / "example.json"), str(out)])
    assert check.exit_code == 1 and "must come next" in check.stdout
    assert solver.REGISTRY["pipeline"].kind == "pipeline"
