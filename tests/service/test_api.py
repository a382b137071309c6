"""The REST API: real solves come back checked; bad input is a 422 naming the field, never a 500."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

import solver
from service.api import create_app
from service.settings import Settings

SOLVED = {"optimal", "feasible", "fallback"}
Body = dict[str, Any]
JSON = {"content-type": "application/json"}


@pytest.fixture
def client() -> TestClient:
    return TestClient(create_app(Settings(sync_max_time_limit_s=5.0, max_body_bytes=64 * 1024)))


def assert_checked(request: Body, result: Body) -> None:
    assert result["kind"] == request["kind"]
    assert result["status"] in SOLVED
    report = solver.check(request["kind"], request["instance"], result["plan"])
    assert report.violations == []
    assert report.objective == result["objective"]


def test_solve_returns_a_checked_plan(client: TestClient, request_data: Body) -> None:
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 200
    assert_checked(request_data, response.json())
    assert [a["node"] for a in response.json()["plan"]["assignments"]].count(None) == 0  # all three fit


def test_openapi_example_is_valid_and_solves(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    operation = client.get("/openapi.json").json()["paths"]["/v1/solve"]["post"]
    example = operation["requestBody"]["content"]["application/json"]["examples"]["pods"]["value"]
    example = {**example, "options": {**example["options"], "time_limit_s": 0.5}}
    response = client.post("/v1/solve", json=example)
    assert response.status_code == 200
    assert_checked(example, response.json())


def test_budget_counts_from_arrival_in_a_worker_thread(
    client: TestClient, request_data: Body, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    real_solve = solver.solve

    def spy(request: Any, *, started: float, **kwargs: Any) -> Any:
        seen["started"], seen["called"] = started, time.monotonic()
        try:
            asyncio.get_running_loop()
            seen["on_event_loop"] = True
        except RuntimeError:
            seen["on_event_loop"] = False
        return real_solve(request, started=started, **kwargs)

    monkeypatch.setattr(solver, "solve", spy)
    sent = time.monotonic()
    assert client.post("/v1/solve", json=request_data).status_code == 200
    assert sent <= seen["started"] <= seen["called"]
    assert seen["on_event_loop"] is False


def put(body: Body, path: tuple[str | int, ...], value: Any) -> None:
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


POD_0, POD_1, POD_2 = ("instance", "pods", 0), ("instance", "pods", 1), ("instance", "pods", 2)
TIME_LIMIT = ("options", "time_limit_s")
INVALID = {  # case: (field, bad value); the 422 must name exactly that field
    "unknown node": ((*POD_0, "node"), "node-z"),
    "duplicate pod": ((*POD_2, "name"), "web-0"),
    "duplicate node": (("instance", "nodes", 1, "name"), "node-a"),
    "negative request": ((*POD_1, "requests", "cpu_m"), -1),
    "fractional request": ((*POD_1, "requests", "cpu_m"), 1.5),
    "zero time limit": (TIME_LIMIT, 0),
    "time limit over 600": (TIME_LIMIT, 601),
    "unknown field": (("instance", "nodes", 0, "capacty"), {}),
}


@pytest.mark.parametrize("case", INVALID)
def test_invalid_input_is_422_naming_the_field(client: TestClient, request_data: Body, case: str) -> None:
    path, value = INVALID[case]
    put(request_data, path, value)
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", *path]]
    assert all(isinstance(e["msg"], str) and e["msg"] and isinstance(e["type"], str) for e in detail)


def test_time_limit_above_the_sync_cap_points_to_jobs(client: TestClient, request_data: Body) -> None:
    request_data["options"]["time_limit_s"] = 5.5  # the fixture's cap is 5
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "options", "time_limit_s"]
    assert "5" in error["msg"] and "POST /v1/jobs" in error["msg"]


@pytest.mark.parametrize(
    "content",
    [b'{"kind": "pods", "instance": ', b"\xff\xfe{}", b"[1, 2]", b'{"options": {"time_limit_s": NaN}}'],
    ids=["truncated", "not utf-8", "array", "NaN"],
)
def test_malformed_json_is_422(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/solve", content=content, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_body_not_declared_json_says_so(client: TestClient, request_data: Body) -> None:
    response = client.post(
        "/v1/solve",
        content=json.dumps(request_data),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]


def test_oversized_body_is_413_naming_the_limit(client: TestClient) -> None:
    response = client.post("/v1/solve", content=b" " * (64 * 1024 + 1), headers=JSON)
    assert response.status_code == 413
    assert "65536" in response.json()["detail"]


def test_oversized_chunked_body_is_413(client: TestClient) -> None:
    chunks = iter([b" " * 40_000, b" " * 40_000])  # no Content-Length: sent chunked
    response = client.post("/v1/solve", content=chunks, headers=JSON)
    assert response.status_code == 413


def test_chunked_body_within_the_limit_is_solved(client: TestClient, request_data: Body) -> None:
    text = json.dumps(request_data).encode()
    chunks = iter([text[:50], text[50:]])
    response = client.post("/v1/solve", content=chunks, headers=JSON)
    assert response.status_code == 200
    assert_checked(request_data, response.json())


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] and "pods" in body["kinds"]
