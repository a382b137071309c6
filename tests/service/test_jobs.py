"""The jobs API over real HTTP: submit, stream incumbents, cancel, list, idempotency, retention."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

import solver
from solver.engine import objective as lex
from tests.service.helpers import Live, finished_job, hard_request, live_server, service_settings, sse

Body = dict[str, Any]
HANG = {"X-Schedopt-Fault": "hang"}


def submit(client: httpx.Client, body: Body, **headers: str) -> httpx.Response:
    return client.post("/v1/jobs", json=body, headers=headers)


def assert_checked(body: Body, result: Body) -> None:
    report = solver.check(body["kind"], body["instance"], result["plan"])
    assert report.violations == [] and report.objective == result["objective"]


def test_a_job_is_accepted_streams_its_incumbents_and_keeps_its_result(live: Live) -> None:
    body = hard_request(1.0)
    response = submit(live.client, body)
    assert response.status_code == 202
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}" == job["links"]["job"]
    assert job["status"] in ("queued", "running") and job["result"] is None
    events = list(sse(live.client, job["links"]["events"]))
    *incumbents, end = events
    assert end.event == "end" and end.data["status"] == "succeeded"
    assert [e.event for e in incumbents] == ["incumbent"] * len(incumbents) and len(incumbents) >= 2
    assert [e.id for e in incumbents] == list(range(1, len(incumbents) + 1))
    assert incumbents[0].data["source"].startswith("heuristic:")
    senses = live.client.get(job["links"]["job"]).json()["result"]["objective_sense"]
    for earlier, later in zip(incumbents, incumbents[1:], strict=False):
        assert later.data["t"] >= earlier.data["t"]
        assert lex.better(later.data["objective"], earlier.data["objective"], senses)
    done = live.client.get(job["links"]["job"]).json()
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["result_status"] == done["result"]["status"] == "feasible"
    assert done["result"]["objective"] == end.data["objective"]
    # Not asserted: result == last incumbent. Seen under CPU load (reported to the solver's owner): the
    # answer is one pod better than the last incumbent the solver reported as progress. The end event
    # carries the answer's objective, so a stream's reader still ends with the right one.
    assert_checked(body, done["result"])
    # a late reader gets the whole series, and Last-Event-ID resumes after an event
    assert [e.id for e in sse(live.client, job["links"]["events"])][:-1] == [e.id for e in incumbents]
    resumed = list(sse(live.client, job["links"]["events"], {"Last-Event-ID": "1"}))
    assert [e.id for e in resumed][:-1] == [e.id for e in incumbents[1:]]


def test_jobs_take_budgets_above_the_synchronous_cap(live: Live, request_data: Body) -> None:
    request_data["options"]["time_limit_s"] = 60  # the fixture's cap for /v1/solve is 5 s
    assert live.client.post("/v1/solve", json=request_data).status_code == 422
    job = submit(live.client, request_data).json()
    done = finished_job(live.client, job["id"])
    assert done["status"] == "succeeded" and done["result"]["status"] == "optimal"


def test_cancelling_a_running_job_stops_it_now_and_keeps_its_best_plan(live: Live) -> None:
    body = hard_request(30.0)
    job = submit(live.client, body).json()
    for event in sse(live.client, job["links"]["events"]):
        if event.data.get("source", "").startswith("cpsat"):
            break  # searching
    t0 = time.monotonic()
    response = live.client.delete(job["links"]["job"])
    assert time.monotonic() - t0 < 1.0
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["result"] is not None
    assert_checked(body, cancelled["result"])
    assert any("cancelled" in w for w in cancelled["result"]["warnings"])
    assert live.client.delete(job["links"]["job"]).json() == cancelled  # already finished: unchanged
    end = list(sse(live.client, job["links"]["events"]))[-1]
    assert end.event == "end" and end.data["status"] == "cancelled"


def test_cancelling_a_queued_job(tmp_path: Path, request_data: Body) -> None:
    with live_server(service_settings(tmp_path, workers=1)) as live:
        blocker = submit(live.client, hard_request(5.0), **HANG).json()
        queued = submit(live.client, request_data).json()
        assert queued["status"] == "queued"
        cancelled = live.client.delete(queued["links"]["job"]).json()
        assert cancelled["status"] == "cancelled" and cancelled["result"] is None
        assert live.client.delete(blocker["links"]["job"]).json()["status"] == "cancelled"


def test_unknown_jobs_are_404(live: Live) -> None:
    for method, path in [
        ("GET", "/v1/jobs/nope"),
        ("DELETE", "/v1/jobs/nope"),
        ("GET", "/v1/jobs/nope/events"),
    ]:
        response = live.client.request(method, path)
        assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_list_filters_and_pages(live: Live, request_data: Body) -> None:
    ids = [submit(live.client, request_data).json()["id"] for _ in range(3)]
    for job_id in ids:
        finished_job(live.client, job_id)
    page = live.client.get("/v1/jobs", params={"limit": 2}).json()
    assert [j["id"] for j in page["items"]] == ids[::-1][:2] and page["next_cursor"]
    assert "result" not in page["items"][0]
    rest = live.client.get("/v1/jobs", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert [j["id"] for j in rest["items"]] == [ids[0]] and rest["next_cursor"] is None
    assert (
        len(live.client.get("/v1/jobs", params={"status": "succeeded", "kind": "pods"}).json()["items"]) == 3
    )
    assert live.client.get("/v1/jobs", params={"status": "queued"}).json()["items"] == []
    for params, where in [
        ({"status": "done"}, ["query", "status"]),
        ({"kind": "nope"}, ["query", "kind"]),
        ({"cursor": "zzz"}, ["query", "cursor"]),
        ({"limit": 0}, ["query", "limit"]),
    ]:
        response = live.client.get("/v1/jobs", params=params)
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == where


def test_idempotency_key_same_body_same_job_other_body_422(live: Live, request_data: Body) -> None:
    first = submit(live.client, request_data, **{"Idempotency-Key": "order-17"})
    again = submit(live.client, request_data, **{"Idempotency-Key": "order-17"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    request_data["options"]["seed"] = 7
    clash = submit(live.client, request_data, **{"Idempotency-Key": "order-17"})
    assert clash.status_code == 422
    [error] = clash.json()["detail"]
    assert error["loc"] == ["header", "Idempotency-Key"]
    assert "order-17" in error["msg"] and first.json()["id"] in error["msg"] and "different" in error["msg"]
    other = submit(live.client, request_data, **{"Idempotency-Key": "order-18"})
    assert other.json()["id"] != first.json()["id"]
    assert len(live.client.get("/v1/jobs").json()["items"]) == 2


def test_idempotency_keys_are_scoped_by_api_key(tmp_path: Path, request_data: Body) -> None:
    with live_server(service_settings(tmp_path, api_keys="alpha,beta")) as live:
        ids = {
            key: submit(
                live.client, request_data, Authorization=f"Bearer {key}", **{"Idempotency-Key": "k"}
            ).json()["id"]
            for key in ("alpha", "beta")
        }
        assert ids["alpha"] != ids["beta"]


def test_an_invalid_job_is_refused_at_once_and_not_stored(live: Live, request_data: Body) -> None:
    request_data["instance"]["pods"][0]["node"] = "node-z"
    response = submit(live.client, request_data)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instance", "pods", 0, "node"]
    assert live.client.get("/v1/jobs").json()["items"] == []


def test_a_full_queue_is_503_with_retry_after(tmp_path: Path, request_data: Body) -> None:
    with live_server(service_settings(tmp_path, workers=1, queue_max=1)) as live:
        blocker = submit(live.client, hard_request(5.0), **HANG).json()
        submit(live.client, request_data)  # waits in the queue
        refused = submit(live.client, request_data)
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert "queue is full" in refused.json()["detail"]
        assert len(live.client.get("/v1/jobs").json()["items"]) == 2  # the refused one left no trace
        busy = live.client.post("/v1/solve", json=request_data)
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) >= 1
        live.client.delete(blocker["links"]["job"])


def test_retention_prunes_old_finished_jobs(live: Live, request_data: Body) -> None:
    job = submit(live.client, request_data).json()
    finished_job(live.client, job["id"])
    manager = live.app.state.manager  # what its timer runs every SCHEDOPT_PRUNE_INTERVAL_S
    assert asyncio.run(manager.prune(time.time())) == 0
    assert live.client.get(job["links"]["job"]).status_code == 200
    assert asyncio.run(manager.prune(time.time() + manager.retention_s + 1)) == 1
    assert live.client.get(job["links"]["job"]).status_code == 404


@pytest.mark.parametrize("limit", [1])
def test_an_instance_list_over_its_limit_is_413_naming_it(
    tmp_path: Path, request_data: Body, limit: int
) -> None:
    settings = service_settings(tmp_path, instance_limits={"pods.nodes": limit}, max_list_items=2)
    with live_server(settings) as live:
        for path in ("/v1/solve", "/v1/jobs"):
            response = live.client.post(path, json=request_data)
            assert response.status_code == 413
            detail = response.json()["detail"]
            assert [e["loc"] for e in detail] == [["body", "instance", "nodes"], ["body", "instance", "pods"]]
            assert (
                "SCHEDOPT_INSTANCE_LIMITS['pods.nodes']" in detail[0]["msg"] and "2 nodes" in detail[0]["msg"]
            )
            assert "SCHEDOPT_MAX_LIST_ITEMS" in detail[1]["msg"] and detail[1]["ctx"]["limit"] == 2
