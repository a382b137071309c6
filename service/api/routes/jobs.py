"""The jobs API: submit (202 + Location), look, stream incumbents (SSE), cancel keeping the best plan, list.

A job's budget counts from the moment a worker takes it, so time spent queued does not eat into it.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

import solver
from models.request import AnySolveResult
from service.api.deps import AppSettings, Client, InjectedFault, Manager
from service.api.examples import SOLVE_EXAMPLES
from service.api.limits import check_instance_size
from service.api.openapi import request_body
from service.api.routes.solve import TOO_LARGE
from service.api.solving import read_solve_request
from service.jobs.store import JobRow, JobStatus

router = APIRouter(tags=["jobs"])

KEEP_ALIVE_S = 15.0
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such job (or it was pruned)."}}


class JobLinks(BaseModel):
    job: str
    events: str


class JobSummary(BaseModel):
    id: str
    kind: str
    status: JobStatus
    time_limit_s: float
    created_at: datetime.datetime
    started_at: datetime.datetime | None = None
    finished_at: datetime.datetime | None = None
    attempts: int = Field(description="Times a worker took the job (a restart of the service runs it again).")
    result_status: str | None = Field(None, description="The result's status once there is one.")
    links: JobLinks


class JobView(JobSummary):
    result: AnySolveResult | None = Field(
        None, description="When the job succeeded, or was cancelled running."
    )
    error: dict[str, Any] | None = Field(None, description="When the job failed: {detail}.")


class JobPage(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null at the end.")


@router.post(
    "/v1/jobs",
    status_code=202,
    response_model=JobView,
    responses={
        413: TOO_LARGE,
        422: {"description": "Invalid request, or an Idempotency-Key reused with a different body."},
        503: {"description": "The queue is full; see Retry-After."},
    },
    openapi_extra=request_body(SOLVE_EXAMPLES),
)
async def submit(
    http: Request,
    settings: AppSettings,
    manager: Manager,
    client: Client,
    fault: InjectedFault,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            description="The same key and body return the same job; the same key with another body is a 422.",
        ),
    ] = None,
) -> Response:
    """Accept a solve of any length (time_limit_s up to 600 s); it is stored before this answers."""
    request = await read_solve_request(http)
    check_instance_size(request.kind, request.instance, settings, ("body", "instance"))
    await run_in_threadpool(solver.validate, request.kind, request.instance)  # 422 now, not a failed job
    row, created = await manager.submit(request, key=idempotency_key, client=client, fault=fault)
    headers = {"Location": job_url(row.id)}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return job_response(row, status_code=202, headers=headers)


@router.get("/v1/jobs", response_model=JobPage)
async def list_jobs(
    manager: Manager,
    status: JobStatus | None = None,
    kind: Annotated[str | None, Query(description="A problem family, e.g. pods.")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> JobPage:
    """Newest first."""
    if kind is not None and kind not in solver.REGISTRY:
        known = ", ".join(sorted(solver.REGISTRY))
        raise RequestValidationError(
            [{"type": "enum", "loc": ("query", "kind"), "msg": f"unknown kind {kind!r} (known: {known})"}]
        )
    rows, next_cursor = await manager.page(status=status, kind=kind, limit=limit, cursor=cursor)
    return JobPage(items=[JobSummary.model_validate(summary(r)) for r in rows], next_cursor=next_cursor)


@router.get("/v1/jobs/{job_id}", response_model=JobView, responses=NOT_FOUND)
async def get_job(job_id: str, manager: Manager) -> Response:
    row = await manager.get(job_id, with_result=True)
    if row is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job_response(row)


@router.delete("/v1/jobs/{job_id}", response_model=JobView, responses=NOT_FOUND)
async def cancel_job(job_id: str, manager: Manager) -> Response:
    """Stop the search now and keep the best plan found (status `cancelled`, with that plan as the
    result); a queued job is cancelled without a result; a finished job is returned unchanged."""
    row = await manager.cancel(job_id)
    if row is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job_response(row)


@router.get(
    "/v1/jobs/{job_id}/events",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-sent events: `incumbent` for each improving plan found (t, objective, "
            "bound, source), then one `end` (status, result_status, objective, bound, gap).",
        },
        **NOT_FOUND,
    },
)
async def job_events(
    job_id: str,
    manager: Manager,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Resume after this event id.")
    ] = None,
) -> StreamingResponse:
    if await manager.get(job_id) is None:
        raise HTTPException(404, f"no job {job_id!r}")
    after = int(last_event_id) if last_event_id and last_event_id.isascii() and last_event_id.isdigit() else 0
    return StreamingResponse(
        _stream(manager, job_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _stream(manager: Manager, job_id: str, after: int) -> AsyncIterator[str]:
    while True:
        changed = manager.changed(job_id)  # taken before reading, so no write can slip between
        for seq, point in await manager.events(job_id, after):
            after = seq
            yield f"id: {seq}\nevent: incumbent\ndata: {point}\n\n"
        row = await manager.get(job_id, with_result=True)
        if row is None or row.finished:
            for seq, point in await manager.events(job_id, after):  # written just before the finish
                yield f"id: {seq}\nevent: incumbent\ndata: {point}\n\n"
            yield f"event: end\ndata: {json.dumps(_end(job_id, row))}\n\n"
            return
        try:
            await asyncio.wait_for(changed.wait(), KEEP_ALIVE_S)
        except TimeoutError:
            yield ": keep-alive\n\n"


def _end(job_id: str, row: JobRow | None) -> dict[str, Any]:
    if row is None:
        return {"id": job_id, "status": "gone"}
    out: dict[str, Any] = {"id": job_id, "status": row.status, "result_status": row.result_status}
    if row.result is not None:
        result = json.loads(row.result)
        out.update({k: result.get(k) for k in ("objective", "bound", "gap", "engine")})
    return out


def job_url(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def summary(row: JobRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": str(row.status),
        "time_limit_s": row.time_limit_s,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "attempts": row.attempts,
        "result_status": row.result_status,
        "links": {"job": job_url(row.id), "events": job_url(row.id) + "/events"},
    }


def job_response(row: JobRow, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """The job as JSON. The stored result is spliced in as it is: it can be megabytes, and it was
    serialised once already by the worker."""
    head = summary(row) | {"error": json.loads(row.error) if row.error else None}
    text = json.dumps(head)
    body = text[:-1].encode() + b', "result": ' + (row.result or b"null") + b"}"
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()
