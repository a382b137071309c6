"""Liveness (open, cheap), readiness (workers up, store writable) and Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

import service
from service.api.deps import AppMetrics, Manager, Pool
from solver import REGISTRY

router = APIRouter(tags=["health"])

STORE_TIMEOUT_S = 2.0


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    kinds: list[str]


class Workers(BaseModel):
    size: int
    alive: int
    busy: int
    queued: int


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    workers: Workers
    store: str


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process answers. Never needs an API key."""
    return Health(version=service.__version__, kinds=sorted(REGISTRY))


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
async def readyz(pool: Pool, manager: Manager) -> JSONResponse:
    """Ready when at least one worker is up and the store takes a write."""
    try:
        await asyncio.wait_for(manager.ping(), STORE_TIMEOUT_S)
        store = "ok"
    except Exception as exc:
        store = f"not writable: {type(exc).__name__}: {exc}"[:300]
    workers = Workers(size=pool.size, alive=pool.alive, busy=pool.busy, queued=len(pool.queue))
    ok = pool.alive > 0 and store == "ok"
    body = Ready(status="ready" if ok else "not ready", workers=workers, store=store)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(m: AppMetrics) -> Response:
    """Prometheus text format."""
    body, content_type = m.render()
    return Response(body, media_type=content_type)
