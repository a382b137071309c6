"""POST /v1/solve: a synchronous solve within the caller's budget, counted from arrival."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

import solver
from models.common import SolveResult
from models.request import AnySolveResult, SolveRequest
from service.api.deps import AppSettings, Arrival
from service.api.examples import SOLVE_EXAMPLES

router = APIRouter(tags=["solve"])


@router.post(
    "/v1/solve",
    response_model=AnySolveResult,
    responses={413: {"description": "The body is larger than SCHEDOPT_MAX_BODY_BYTES."}},
)
async def solve(
    request: Annotated[SolveRequest, Body(openapi_examples=SOLVE_EXAMPLES)],
    started: Arrival,
    settings: AppSettings,
) -> SolveResult:
    """A checked plan by `options.time_limit_s`, which may not exceed SCHEDOPT_SYNC_MAX_TIME_LIMIT_S."""
    limit = settings.sync_max_time_limit_s
    asked = request.options.time_limit_s
    if asked > limit:
        raise RequestValidationError(
            [
                {
                    "type": "less_than_equal",
                    "loc": ("body", "options", "time_limit_s"),
                    "msg": f"time_limit_s = {asked:g} is above the synchronous limit of {limit:g} s "
                    "(SCHEDOPT_SYNC_MAX_TIME_LIMIT_S); longer solves belong to the jobs API "
                    "(POST /v1/jobs, coming later)",
                    "input": asked,
                    "ctx": {"le": limit},
                }
            ]
        )
    # a worker thread keeps the event loop serving other requests while the engine runs
    return await run_in_threadpool(solver.solve, request, started=started)
