"""Bad input is a 422 in FastAPI's own shape, whichever layer found it, and never a 500.

Too large is a 413 naming the limit; no room is a 503 with Retry-After.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from service.api.limits import InstanceTooLarge
from service.jobs.manager import IdempotencyMismatch
from service.jobs.runs import Backpressure, Outcome
from service.jobs.store import BadCursor
from solver.engine.errors import InvalidInstance

MAX_ECHO_CHARS = 256  # an input longer than this (say, a whole instance) is not echoed back


def validation_response(errors: Iterable[Mapping[str, Any]]) -> JSONResponse:
    return JSONResponse({"detail": [_entry(e) for e in errors]}, status_code=422)


def _entry(error: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": error["type"], "loc": list(error["loc"]), "msg": error["msg"]}
    if "input" in error and (echo := _echo(error["input"])) is not None:
        out["input"] = echo
    if error.get("ctx"):
        out["ctx"] = {k: _echo(v) for k, v in error["ctx"].items()}
    return out


def _echo(value: Any) -> Any:
    """The value as plain JSON when short; NaN and odd types become strings, so encoding cannot fail."""
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(str(value))
    return json.loads(text) if len(text) <= MAX_ECHO_CHARS else None


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_response(_unparsed_hint(e) for e in exc.errors())


def _unparsed_hint(error: Mapping[str, Any]) -> Mapping[str, Any]:
    """A body FastAPI left as bytes was not declared JSON (curl -d sends a form): say so."""
    if tuple(error["loc"]) != ("body",) or not isinstance(error.get("input"), bytes):
        return error
    return {
        "type": error["type"],
        "loc": error["loc"],
        "msg": "the body must be a JSON object sent with Content-Type: application/json",
    }


async def _instance_invalid(request: Request, exc: Exception) -> JSONResponse:
    """The solver's cross-field errors have locs relative to the request; the body is that request."""
    assert isinstance(exc, InvalidInstance)
    return validation_response(
        {"type": "value_error", "loc": ("body", *e.loc), "msg": e.msg}
        | ({} if e.value is None else {"input": e.value})
        for e in exc.errors
    )


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InstanceTooLarge)
    return JSONResponse({"detail": exc.errors}, status_code=413)


async def _backpressure(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Backpressure)
    return busy_response(exc)


def busy_response(exc: Backpressure) -> JSONResponse:
    retry = str(max(1, math.ceil(exc.retry_after_s)))
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": retry})


async def _idempotency_mismatch(request: Request, exc: Exception) -> JSONResponse:
    return validation_response(
        [{"type": "idempotency_key_reused", "loc": ("header", "Idempotency-Key"), "msg": str(exc)}]
    )


async def _bad_cursor(request: Request, exc: Exception) -> JSONResponse:
    return validation_response([{"type": "value_error", "loc": ("query", "cursor"), "msg": str(exc)}])


def outcome_response(outcome: Outcome) -> Response:
    """A synchronous solve's answer: the result (a salvaged one included), its 422, or a 500 when the
    worker was lost before it had any plan."""
    if outcome.kind == "invalid":
        return validation_response(outcome.errors)
    if outcome.result is None:
        detail = f"{outcome.error or outcome.kind}; the worker was replaced, the request can be retried"
        return JSONResponse({"detail": detail}, status_code=500)
    return Response(outcome.result, media_type="application/json")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(InvalidInstance, _instance_invalid)
    app.add_exception_handler(InstanceTooLarge, _too_large)
    app.add_exception_handler(Backpressure, _backpressure)
    app.add_exception_handler(IdempotencyMismatch, _idempotency_mismatch)
    app.add_exception_handler(BadCursor, _bad_cursor)
