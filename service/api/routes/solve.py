"""POST /v1/solve: a synchronous solve on the worker pool within the caller's budget, counted from arrival."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from models.request import AnySolveResult
from service.api.deps import AppMetrics, AppSettings, Arrival, InjectedFault, Pool
from service.api.errors import outcome_response
from service.api.examples import SOLVE_EXAMPLES
from service.api.limits import check_instance_size
from service.api.openapi import request_body
from service.api.solving import ClientGone, read_solve_request, solve_sync

router = APIRouter(tags=["solve"])

BUSY = {
    "description": "No worker can start this solve within its budget (or the queue is full); see Retry-After."
}
TOO_LARGE = {
    "description": "The body is larger than SCHEDOPT_MAX_BODY_BYTES, or an instance list is "
    "longer than its limit (SCHEDOPT_INSTANCE_LIMITS, SCHEDOPT_MAX_LIST_ITEMS)."
}
RESPONSES: dict[int | str, dict[str, Any]] = {413: TOO_LARGE, 503: BUSY}


@router.post(
    "/v1/solve",
    response_model=AnySolveResult,
    responses=RESPONSES,
    openapi_extra=request_body(SOLVE_EXAMPLES),
)
async def solve(
    http: Request,
    started: Arrival,
    settings: AppSettings,
    pool: Pool,
    metrics: AppMetrics,
    fault: InjectedFault,
) -> Response:
    """A checked plan by `options.time_limit_s`, which may not exceed SCHEDOPT_SYNC_MAX_TIME_LIMIT_S.

    The solve runs in a worker process. If the worker has not answered by the time limit plus a small
    grace, it is stopped and the best plan it reported comes back (the heuristic's at least, status
    `fallback`)."""
    request = await read_solve_request(http)
    limit = settings.sync_max_time_limit_s
    asked = request.options.time_limit_s
    if asked > limit:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "options", "time_limit_s"),
                    "msg": f"time_limit_s = {asked:g} is above the synchronous limit of {limit:g} s "
                    "(SCHEDOPT_SYNC_MAX_TIME_LIMIT_S); longer solves belong to the jobs API: "
                    "POST /v1/jobs, then GET /v1/jobs/{id}",
                    "input": asked,
                    "ctx": {"le": limit},
                }
            ]
        )
    check_instance_size(request.kind, request.instance, settings, ("body", "instance"))
    try:
        outcome = await solve_sync(http, pool, metrics, request, started=started, fault=fault)
    except ClientGone:
        return Response(status_code=499)  # nobody reads it; the access log records the hang-up
    return outcome_response(outcome)
