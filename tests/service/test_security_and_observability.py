"""API keys, request ids, structured logs without bodies, Prometheus metrics and readiness."""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.api.middleware import ApiKeyMiddleware
from service.logs import JsonFormatter
from tests.service.helpers import Live, live_server, service_settings

Body = dict[str, Any]


@pytest.fixture
def keyed(tmp_path: Path) -> Iterator[Live]:
    with live_server(service_settings(tmp_path, api_keys="alpha-key, beta-key")) as live:
        yield live


def test_api_keys_guard_v1_and_k8s_only(keyed: Live, request_data: Body) -> None:
    client = keyed.client
    for method, path in [
        ("POST", "/v1/solve"),
        ("GET", "/v1/jobs"),
        ("POST", "/k8s/filter"),
        ("GET", "/k8s/cluster"),
    ]:
        for auth in (None, "Bearer wrong", "Basic alpha-key", "alpha-key", "Bearer alpha-keyX"):
            headers = {} if auth is None else {"Authorization": auth}
            response = client.request(method, path, headers=headers, json=request_data)
            assert response.status_code == 401, (method, path, auth)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in response.json()["detail"]
    for key in ("alpha-key", "beta-key"):
        ok = client.post("/v1/solve", json=request_data, headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200
    assert client.get("/v1/jobs", headers={"Authorization": "bearer beta-key"}).status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_an_unauthenticated_caller_learns_nothing_about_the_body(keyed: Live) -> None:
    huge = b" " * (1024 * 1024)  # above the body limit: still 401, not 413
    response = keyed.client.post("/v1/solve", content=huge, headers={"content-type": "application/json"})
    assert response.status_code == 401


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    middleware = ApiKeyMiddleware(app=None, keys=["k1", "k2", "k3"])  # type: ignore[arg-type]
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for header in ("Bearer k1", "Bearer k3", "Bearer nope", "Basic k1"):
        calls.clear()
        middleware.client(header)
        assert len(calls) == 3  # every key, whether the first one matched or none did
        assert {len(a) for a, _ in calls} == {32}  # digests: the key's length does not show either
    assert middleware.client("Bearer k2") == middleware.client("bearer  k2") != middleware.client("Bearer k1")
    assert middleware.client("Basic k2") is None


def test_every_response_carries_a_request_id(live: Live, request_data: Body) -> None:
    generated = live.client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    given = live.client.post("/v1/solve", json=request_data, headers={"X-Request-ID": "sched-42.a:b"})
    assert given.headers["x-request-id"] == "sched-42.a:b"
    unsafe = live.client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200})
    assert (
        unsafe.headers["x-request-id"] != "bad id\twith spaces" and len(unsafe.headers["x-request-id"]) == 32
    )


class _Lines(logging.Handler):
    """Formats each record as it is emitted (on the thread that logged it, with its request id)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_logs_are_json_with_the_request_id_and_never_the_body(live: Live, request_data: Body) -> None:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    try:
        request_data["instance"]["nodes"][0]["name"] = "customer-secret-node"
        for pod in request_data["instance"]["pods"]:
            if pod.get("node") == "node-a":
                pod["node"] = "customer-secret-node"
        live.client.post("/v1/solve", json=request_data, headers={"X-Request-ID": "trace-1"})
        request_data["instance"]["pods"][0]["node"] = "nowhere"  # a 422 echoes the value to the caller...
        live.client.post("/v1/solve", json=request_data, headers={"X-Request-ID": "trace-2"})
        # the server logs the access line after the response is sent, on its own thread
        waited = time.monotonic() + 5.0
        while sum('"schedopt.access"' in line for line in handler.lines) < 2 and time.monotonic() < waited:
            time.sleep(0.01)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    records = [json.loads(line) for line in handler.lines]
    access = [r for r in records if r["logger"] == "schedopt.access"]
    assert [(r["request_id"], r["status"], r["path"]) for r in access] == [
        ("trace-1", 200, "/v1/solve"),
        ("trace-2", 422, "/v1/solve"),
    ]
    assert all({"ts", "level", "msg", "method", "duration_ms"} <= set(r) for r in access)
    assert not any(
        "customer-secret-node" in line or "nowhere" in line for line in handler.lines
    )  # ...never the log


def test_metrics_count_requests_solves_restarts_and_the_queue(live: Live, request_data: Body) -> None:
    live.client.post("/v1/solve", json=request_data).raise_for_status()
    live.client.post("/v1/solve", json=request_data, headers={"X-Schedopt-Fault": "crash-early"})
    text = live.client.get("/metrics").text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if not line.startswith("#")
    }
    assert samples['schedopt_http_requests_total{method="POST",route="/v1/solve",status="200"}'] == 1
    assert samples['schedopt_http_requests_total{method="POST",route="/v1/solve",status="500"}'] == 1
    assert samples['schedopt_solves_total{engine="heuristic",kind="pods",mode="sync",status="optimal"}'] == 1
    assert samples['schedopt_solve_seconds_count{kind="pods",mode="sync"}'] == 1
    assert samples['schedopt_solve_gap_bucket{kind="pods",le="0.0"}'] == 1
    assert 'schedopt_solve_overrun_seconds_bucket{kind="pods",le="0.0",mode="sync"}' in samples
    assert samples['schedopt_worker_restarts_total{reason="crash"}'] == 1
    assert samples["schedopt_queue_depth"] == 0
    assert samples['schedopt_workers{state="idle"}'] + samples['schedopt_workers{state="down"}'] == 2
    assert "# TYPE schedopt_rejected_total counter" in text
    assert not any(name.endswith("_created") for name in samples)


def test_readiness_needs_a_live_worker_and_a_writable_store(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    ready = live.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "workers": {"size": 2, "alive": 2, "busy": 0, "queued": 0},
        "store": "ok",
    }

    def read_only() -> None:
        raise OSError("attempt to write a readonly database")

    monkeypatch.setattr(live.app.state.manager.store, "ping", read_only)
    broken = live.client.get("/readyz")
    assert broken.status_code == 503 and "readonly" in broken.json()["store"]
    assert live.client.get("/healthz").status_code == 200  # alive all the same
    monkeypatch.undo()
    monkeypatch.setattr(type(live.pool), "alive", property(lambda self: 0))
    assert live.client.get("/readyz").status_code == 503


def test_the_guarded_prefixes_are_a_setting(tmp_path: Path, request_data: Body) -> None:
    """kube-scheduler cannot send a key: /k8s may be left to network policy while /v1 keeps its keys."""
    with live_server(service_settings(tmp_path, api_keys="k", api_key_prefixes="/v1")) as live:
        assert live.client.get("/k8s/cluster").status_code == 200
        assert live.client.post("/v1/solve", json=request_data).status_code == 401
