"""The REST API: real solves come back checked; bad input is a 422 naming the field, never a 500."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import solver
from service.api.examples import SOLVE_EXAMPLES
from solver.engine import portfolio
from tests.service.helpers import hard_request, live_server, service_settings

SOLVED = {"optimal", "feasible", "fallback"}
Body = dict[str, Any]
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = service_settings(tmp_path_factory.mktemp("api"), max_body_bytes=64 * 1024)
    with live_server(settings) as live:
        yield live.client


def assert_checked(request: Body, result: Body) -> None:
    assert result["kind"] == request["kind"]
    assert result["status"] in SOLVED
    report = solver.check(request["kind"], request["instance"], result["plan"])
    assert report.violations == []
    assert report.objective == result["objective"]


def test_solve_returns_a_checked_plan(client: httpx.Client, request_data: Body) -> None:
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 200
    assert_checked(request_data, response.json())
    assert [a["node"] for a in response.json()["plan"]["assignments"]].count(None) == 0  # all three fit


@pytest.mark.parametrize("kind", sorted(solver.REGISTRY))
def test_every_family_has_an_openapi_example_that_solves(client: httpx.Client, kind: str) -> None:
    assert client.get("/docs").status_code == 200
    for path in ("/v1/solve", "/v1/jobs"):
        operation = client.get("/openapi.json").json()["paths"][path]["post"]
        examples = operation["requestBody"]["content"]["application/json"]["examples"]
        assert kind in examples, f"{path}: add an example for {kind!r} to service/api/examples.py"
    example = SOLVE_EXAMPLES[kind]["value"]
    example = {**example, "options": {**example.get("options", {}), "time_limit_s": 0.5}}
    response = client.post("/v1/solve", json=example)
    assert response.status_code == 200, response.text
    assert_checked(example, response.json())


def test_the_web_process_never_runs_a_solver(
    client: httpx.Client, request_data: Body, monkeypatch: pytest.MonkeyPatch
) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a solver ran in the web process")

    monkeypatch.setattr(solver, "solve", forbidden)
    monkeypatch.setattr(portfolio, "run", forbidden)
    for family in solver.REGISTRY.values():
        monkeypatch.setattr(family, "heuristics", forbidden)
        monkeypatch.setattr(family, "solve_exact", forbidden)
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 200
    monkeypatch.undo()
    assert_checked(request_data, response.json())


def test_answers_come_back_within_the_budget_counted_from_arrival(client: httpx.Client) -> None:
    """A request whose search would use its whole budget: the answer is there by time_limit_s plus the
    grace and transport, whatever the solver does (here: runs to its limit)."""
    body = hard_request(0.5)
    sent = time.monotonic()
    response = client.post("/v1/solve", json=body)
    wall = time.monotonic() - sent
    assert response.status_code == 200
    assert wall < 0.5 + 0.1
    assert_checked(body, response.json())


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
def test_invalid_input_is_422_naming_the_field(client: httpx.Client, request_data: Body, case: str) -> None:
    path, value = INVALID[case]
    put(request_data, path, value)
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [e["loc"] for e in detail] == [["body", *path]]
    assert all(isinstance(e["msg"], str) and e["msg"] and isinstance(e["type"], str) for e in detail)


def test_time_limit_above_the_sync_cap_points_to_jobs(client: httpx.Client, request_data: Body) -> None:
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
def test_malformed_json_is_422(client: httpx.Client, content: bytes) -> None:
    response = client.post("/v1/solve", content=content, headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


def test_body_not_declared_json_says_so(client: httpx.Client, request_data: Body) -> None:
    response = client.post(
        "/v1/solve",
        content=json.dumps(request_data),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["detail"][0]["msg"]


def test_oversized_body_is_413_naming_the_limit(client: httpx.Client) -> None:
    response = client.post("/v1/solve", content=b" " * (64 * 1024 + 1), headers=JSON)
    assert response.status_code == 413
    assert "65536" in response.json()["detail"]


def test_oversized_chunked_body_is_413(client: httpx.Client) -> None:
    chunks = iter([b" " * 40_000, b" " * 40_000])  # no Content-Length: sent chunked
    response = client.post("/v1/solve", content=chunks, headers=JSON)
    assert response.status_code == 413


def test_chunked_body_within_the_limit_is_solved(client: httpx.Client, request_data: Body) -> None:
    text = json.dumps(request_data).encode()
    chunks = iter([text[:50], text[50:]])
    response = client.post("/v1/solve", content=chunks, headers=JSON)
    assert response.status_code == 200
    assert_checked(request_data, response.json())


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] and set(body["kinds"]) == set(solver.REGISTRY)


@pytest.mark.parametrize("value", [2**53, 2**63, 10**30, 1e20], ids=["2^53", "2^63", "1e30", "float 1e20"])
def test_integers_beyond_what_json_carries_are_422_not_500(
    client: httpx.Client, request_data: Body, value: Any
) -> None:
    """I-JSON (RFC 7493): integers beyond 2**53 - 1 are not interoperable; the solvers' int64 arithmetic
    would overflow on 2**63 (a 500 before this check)."""
    request_data["instance"]["nodes"][1]["capacity"]["cpu_m"] = value
    response = client.post("/v1/solve", json=request_data)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "instance", "nodes", 1, "capacity", "cpu_m"]
    # the body check names 2**53 - 1; the pods model's own bound (10**12) may speak first
    assert "2**53 - 1" in error["msg"] or "less than or equal to" in error["msg"] or isinstance(value, float)
    request_data["instance"]["nodes"][1]["capacity"]["cpu_m"] = 10**12
    assert client.post("/v1/solve", json=request_data).status_code == 200


def test_a_budget_below_the_instances_floor_is_422_for_solve_and_jobs(client: httpx.Client) -> None:
    """A budget shorter than reading the instance, a baseline and its check take at its size is refused
    on arrival (a job with it is never accepted), naming the field and the accepted range."""
    from models.pods import PodsInstance
    from solver.pods.generate import paper_instance

    instance = paper_instance(16, 8, 4, 1.0, seed=0).model_dump(mode="json")
    floor = solver.REGISTRY["pods"].min_time_limit_s(PodsInstance.model_validate(instance))
    assert floor > 0.01
    body = {"kind": "pods", "instance": instance, "options": {"time_limit_s": 0.01}}
    for path in ("/v1/solve", "/v1/jobs"):
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", "options", "time_limit_s"]
        assert f"accepted: {floor:g} <= time_limit_s <= 600" in error["msg"]
