"""A synchronous solve on the pool, shared by POST /v1/solve and the Kubernetes extender.

The budget counts from the HTTP request's arrival. A client that hangs up gets its solve cancelled, so
an abandoned request (a scheduler's HTTP timeout, say) does not hold a worker to the end of its budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive

import solver
from models.request import SolveRequest
from service.api.limits import out_of_range_integers
from service.jobs.pool import WorkerPool
from service.jobs.protocol import Fault
from service.jobs.runs import Outcome, Run
from service.metrics import Metrics

JSON_TYPES = ("application/json",)


async def read_solve_request(http: Request) -> SolveRequest:
    """The body as a SolveRequest, parsed off the event loop by the solver's own parser; bad input is an
    InvalidInstance (a 422 with the request's JSON paths)."""
    content_type = http.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise RequestValidationError(
            [
                {
                    "type": "content_type",
                    "loc": ("body",),
                    "msg": "the body must be a JSON object sent with Content-Type: application/json",
                }
            ]
        )
    body = await http.body()
    return await run_in_threadpool(_parse, body)


def _parse(body: bytes) -> SolveRequest:
    request = solver.parse_request(body)
    solver.check_budget(request)
    # a fast scan first (walking a large instance takes tens of ms): any integer beyond 2**53 - 1 is
    # written with 16 digits or more, or with an exponent (1e20 is accepted for an integer field)
    suspect = _LONG_NUMBER.search(body)
    if suspect and (errors := list(out_of_range_integers(request.model_dump(by_alias=True), ("body",)))):
        raise RequestValidationError(errors)
    return request


_LONG_NUMBER = re.compile(rb"\d{16,}|\d[eE]\+?\d")


class ClientGone(Exception):
    """The client disconnected before the answer; its solve was cancelled."""


async def solve_sync(
    http: Request,
    pool: WorkerPool,
    metrics: Metrics,
    request: SolveRequest,
    *,
    started: float,
    mode: str = "sync",
    fault: Fault | None = None,
) -> Outcome:
    """Raises Backpressure when the solve cannot start within its budget, ClientGone on a hang-up."""
    run = Run(
        kind=request.kind,
        request=request.model_dump_json().encode(),
        time_limit_s=request.options.time_limit_s,
        sync=True,
        started=started,
        return_progress=request.options.return_progress,
        fault=fault,
    )
    pool.submit(run)
    watcher: asyncio.Future[None] = asyncio.ensure_future(_disconnected(http.receive))
    waiting: set[asyncio.Future[Any]] = {run.future, watcher}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    if not run.future.done():
        pool.cancel(run)
        raise ClientGone()
    outcome = run.future.result()
    if outcome.summary is not None:
        s = outcome.summary
        metrics.observe_solve(
            request.kind, mode, s.status, s.engine, s.gap, time.monotonic() - started, run.time_limit_s
        )
    return outcome


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
