"""The Ray backend, on a local Ray started here: the same records as the local process pool
(everything but timings), through the Python API and through `schedopt batch --backend ray`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.planning.backends import LocalBackend, RayBackend
from service.planning.batch import run_batch
from service.planning.records import Record, read_records
from service.planning.runner import Settings

ray = pytest.importorskip("ray", reason="the ray extra: pip install -e '.[ray]' (dev includes it)")
runner = CliRunner()


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # two CPUs like the CI machine; no dashboard; a cold start on a slow machine may take a while
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def comparable(records: list[Record]) -> dict[str, dict]:
    return {r.id: r.comparable() for r in records}


def test_ray_and_local_backends_give_the_same_records(local_ray: None, folder: Path, in_tmp: Path):
    settings = Settings(time_limit_s=2, seed=3)
    backend = RayBackend()  # joins the running Ray, and leaves it running
    assert backend.slots == 2
    on_ray = run_batch(["instances"], in_tmp / "ray.jsonl", settings, backend)
    backend.close()
    assert ray.is_initialized()
    pool = LocalBackend(2)
    try:
        local = run_batch(["instances"], in_tmp / "local.jsonl", settings, pool)
    finally:
        pool.close()
    assert len(on_ray.records) == 5 and on_ray.ok
    assert comparable(on_ray.records) == comparable(local.records)
    assert {r.times["wall_s"] > 0 for r in on_ray.records} == {True}


def test_batch_cli_on_ray(local_ray: None, folder: Path, in_tmp: Path):
    out = in_tmp / "cli.jsonl"
    args = ["batch", "instances/workflow", "--backend", "ray", "--time-limit", "2", "--seed", "3", "-q"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert sorted(r.id for r in records) == [
        "instances/workflow/example.json",
        "instances/workflow/ft06.txt",
        "instances/workflow/j301_1.sm",
    ]
    assert all(r.status == "optimal" and r.check_ok for r in records)
    line = json.loads(out.read_text().splitlines()[0])
    assert set(line["times"]) >= {"total_s", "wall_s"} and line["workers"] == 1
