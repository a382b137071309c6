"""Faults, end to end: hung, crashing and killed workers, and a service stopped (gracefully or with
SIGKILL) while jobs were queued and running. Every request gets an answer; every job ends with a result."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import solver
from tests.service.helpers import Live, finished_job, hard_request, live_server, service_settings, sse

Body = dict[str, Any]
SLACK_S = 0.08  # grace (30 ms) + HTTP on loopback + scheduling noise on a loaded 2-core machine


def fault(name: str) -> dict[str, str]:
    return {"X-Schedopt-Fault": name}


def assert_checked(body: Body, result: Body) -> None:
    report = solver.check(body["kind"], body["instance"], result["plan"])
    assert report.violations == [] and report.objective == result["objective"]


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_hung_solver_is_answered_at_its_deadline_with_the_heuristic_plan(live: Live) -> None:
    body = hard_request(0.4)
    sent = time.monotonic()
    response = live.client.post("/v1/solve", json=body, headers=fault("hang"))
    wall = time.monotonic() - sent
    assert response.status_code == 200
    assert 0.4 <= wall <= 0.4 + SLACK_S
    result = response.json()
    assert (result["status"], result["engine"]) == ("fallback", "heuristic")
    assert_checked(body, result)
    live.client.get("/readyz")
    assert metric(live.client, "schedopt_worker_restarts_total", reason="overrun") == 1


def test_a_solver_ignoring_its_limit_is_answered_at_its_deadline(live: Live) -> None:
    body = hard_request(0.4)
    sent = time.monotonic()
    response = live.client.post("/v1/solve", json=body, headers=fault("ignore-limit"))
    assert time.monotonic() - sent <= 0.4 + SLACK_S
    assert response.status_code == 200
    assert_checked(body, response.json())


def test_a_crash_costs_that_request_at_most(live: Live, request_data: Body) -> None:
    body = hard_request(1.0)
    crashed = live.client.post("/v1/solve", json=body, headers=fault("crash"))
    assert crashed.status_code == 200  # it had sent its heuristic plan: that is the answer
    assert any("crashed" in w for w in crashed.json()["warnings"])
    assert_checked(body, crashed.json())
    lost = live.client.post("/v1/solve", json=request_data, headers=fault("crash-early"))
    assert lost.status_code == 500 and "crashed" in lost.json()["detail"]
    after = live.client.post("/v1/solve", json=request_data)
    assert after.status_code == 200 and after.json()["status"] == "optimal"
    assert metric(live.client, "schedopt_worker_restarts_total", reason="crash") == 2


def test_the_fault_header_is_ignored_unless_enabled(tmp_path: Path, request_data: Body) -> None:
    with live_server(service_settings(tmp_path, test_faults=False)) as live:
        response = live.client.post("/v1/solve", json=request_data, headers=fault("crash-early"))
        assert response.status_code == 200 and response.json()["status"] == "optimal"


def test_a_worker_killed_mid_search_ends_its_job_with_its_best_plan(
    tmp_path: Path, request_data: Body
) -> None:
    with live_server(service_settings(tmp_path, workers=1)) as live:
        body = hard_request(20.0)
        job = live.client.post("/v1/jobs", json=body).json()
        for event in sse(live.client, job["links"]["events"]):
            if event.data.get("source", "").startswith("cpsat"):
                break
        [pid] = live.pool.pids()
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        done = finished_job(live.client, job["id"])
        assert time.monotonic() - t0 < 2.0
        assert done["status"] == "succeeded" and done["result"]["status"] == "fallback"
        assert any("crashed" in w for w in done["result"]["warnings"])
        assert_checked(body, done["result"])
        after = finished_job(live.client, live.client.post("/v1/jobs", json=request_data).json()["id"])
        assert after["result"]["status"] == "optimal"
        assert live.client.get("/readyz").json()["workers"]["alive"] == 1


def test_jobs_queued_and_running_at_a_graceful_stop_run_again_at_the_next_start(
    tmp_path: Path, request_data: Body
) -> None:
    settings = service_settings(tmp_path, workers=1)
    hard = hard_request(0.5)
    with live_server(settings) as live:
        done_before = finished_job(live.client, live.client.post("/v1/jobs", json=request_data).json()["id"])
        running = live.client.post("/v1/jobs", json=hard, headers=fault("hang")).json()  # stuck in a worker
        queued = [live.client.post("/v1/jobs", json=request_data).json() for _ in range(2)]
        assert live.client.get(running["links"]["job"]).json()["status"] == "running"
        assert all(live.client.get(j["links"]["job"]).json()["status"] == "queued" for j in queued)
    with live_server(settings) as live:  # the same SQLite file
        again = finished_job(live.client, running["id"])
        assert again["status"] == "succeeded" and again["attempts"] == 2  # the fault was not stored
        assert_checked(hard, again["result"])
        for job in queued:
            assert finished_job(live.client, job["id"])["result"]["status"] == "optimal"
        assert live.client.get(f"/v1/jobs/{done_before['id']}").json() == done_before


@contextmanager
def served(db: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    """`schedopt serve` in its own process (what `make run` starts), ready when uvicorn says so."""
    env = {**os.environ, "SCHEDOPT_DB_PATH": str(db), "SCHEDOPT_TEST_FAULTS": "1", "SCHEDOPT_WORKERS": "1"}
    command = [str(Path(sys.executable).parent / "schedopt"), "serve", "--port", str(port)]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # JSON log lines; blocks until the next one
        if "Uvicorn running on" in line:
            break
    else:
        raise RuntimeError(f"schedopt serve exited with {proc.wait()}")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
        proc.stderr.close()


def descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(re.sub(r"^.*\) ", "", stat).split()[1])
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def wait_exited(pids: list[int], timeout_s: float) -> None:
    """Wait for processes that are not our children to exit (pidfd: no polling)."""
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            readable, _, _ = select.select([fd], [], [], timeout_s)
            assert readable, f"process {pid} outlived the service"
        finally:
            os.close(fd)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfd_open")
def test_nothing_accepted_is_lost_when_the_service_is_killed(tmp_path: Path, request_data: Body) -> None:
    db, port = tmp_path / "jobs.sqlite", free_port()
    hard = hard_request(0.5)
    with served(db, port) as proc, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        done_before = finished_job(client, client.post("/v1/jobs", json=request_data).json()["id"])
        running = client.post("/v1/jobs", json=hard, headers=fault("hang")).json()
        queued = [client.post("/v1/jobs", json=request_data).json() for _ in range(3)]
        assert client.get(running["links"]["job"]).json()["status"] == "running"
        children = descendants(proc.pid)  # the forkserver and the worker
        assert len(children) >= 2
        proc.kill()  # SIGKILL: no shutdown code runs
        proc.wait()
        wait_exited(children, 10)  # workers and forkserver notice and leave: no orphans
    with served(db, free_port()) as proc2:
        port2 = int(proc2.args[-1])  # type: ignore[index]
        with httpx.Client(base_url=f"http://127.0.0.1:{port2}", timeout=30) as client:
            again = finished_job(client, running["id"])
            assert again["status"] == "succeeded" and again["attempts"] == 2
            assert_checked(hard, again["result"])
            assert [finished_job(client, j["id"])["status"] for j in queued] == ["succeeded"] * 3
            assert client.get(f"/v1/jobs/{done_before['id']}").json() == done_before


def test_a_caller_that_hangs_up_frees_its_worker(tmp_path: Path, request_data: Body) -> None:
    """A scheduler whose HTTP timeout fires goes away; its solve is cancelled instead of holding the only
    worker to the end of a 5 s budget."""
    with live_server(service_settings(tmp_path, workers=1)) as live:
        with pytest.raises(httpx.ReadTimeout):
            live.client.post("/v1/solve", json=hard_request(5.0), timeout=0.5)
        t0 = time.monotonic()
        job = live.client.post("/v1/jobs", json=request_data).json()
        assert finished_job(live.client, job["id"])["status"] == "succeeded"
        assert time.monotonic() - t0 < 2.0
