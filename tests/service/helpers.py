"""The real service on loopback for tests: create_app() under uvicorn in a thread, lifespan included
(worker pool, job store), so the tests exercise real HTTP, real worker processes and a real SQLite file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from service.api import create_app
from service.jobs.pool import WorkerPool
from service.settings import Settings

INSTANCES = Path(__file__).resolve().parents[2] / "instances" / "pods"
STARTUP_TIMEOUT_S = 60.0


def hard_request(time_limit_s: float) -> dict[str, Any]:
    """512 pods on 64 nodes: with 2 CP-SAT workers the search improves for its whole budget (measured:
    3 s of 3 s, a dozen incumbents), so a test can act on a solve in the middle of its search."""
    data = json.loads((INSTANCES / "paper-n64-p8-k4-u105.json").read_text())
    data["options"] = {"time_limit_s": time_limit_s, "workers": 2, "seed": 0}
    return data


def service_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Two workers, a SQLite file under tmp_path, the fault hook on, small caps."""
    values: dict[str, Any] = {
        "workers": 2,
        "db_path": tmp_path / "jobs.sqlite",
        "sync_max_time_limit_s": 5.0,
        "max_body_bytes": 256 * 1024,
        "test_faults": True,
        "cancel_grace_s": 0.3,  # the hang fault ignores cancels: do not wait long for it
        "api_keys": [],
    }
    return Settings(**(values | overrides))


class _Server(uvicorn.Server):
    """uvicorn's server, telling when it has started (lifespan done, socket bound) or failed to."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: Any = None) -> None:
        try:
            await super().startup(sockets)
        finally:
            self.ready.set()


@dataclass
class Live:
    url: str
    app: FastAPI
    client: httpx.Client

    @property
    def pool(self) -> WorkerPool:
        return self.app.state.pool


@contextmanager
def live_server(settings: Settings) -> Iterator[Live]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, timeout_graceful_shutdown=2
    )
    server = _Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    if not server.ready.wait(STARTUP_TIMEOUT_S) or not server.started:
        server.should_exit = True
        thread.join(10)
        raise RuntimeError("the service did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            yield Live(url, app, client)
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Event:
    event: str
    data: dict[str, Any]
    id: int | None = None


def sse(client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> Iterator[Event]:
    """Server-sent events as they arrive (a blocking read of the stream: no polling)."""
    with client.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line.startswith(":"):
                continue
            if line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
                continue
            if "data" in fields:
                yield Event(
                    fields.get("event", "message"), json.loads(fields["data"]), _int(fields.get("id"))
                )
            fields = {}


def _int(text: str | None) -> int | None:
    return None if text is None else int(text)


def finished_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    """Follow the job's event stream to its end, then return the job."""
    for event in sse(client, f"/v1/jobs/{job_id}/events"):
        if event.event == "end":
            break
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200
    return response.json()
