"""The one entry point: solve(request) -> SolveResult, and the family registry."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, ValidationError

from models.common import SolveResult
from models.request import SolveRequest, request_adapter
from solver.batching import FAMILY as BATCHING
from solver.engine import portfolio
from solver.engine.budget import CancelToken
from solver.engine.errors import FieldError, InvalidInstance
from solver.engine.family import CheckReport, Family
from solver.engine.portfolio import PlanSink, ProgressSink
from solver.parallelism import FAMILY as PARALLELISM
from solver.pipeline import FAMILY as PIPELINE
from solver.pods import FAMILY as PODS
from solver.workflow import FAMILY as WORKFLOW

# Adding a family: one line here and one member in models.request's unions.
REGISTRY: dict[str, Family] = {
    PODS.kind: PODS,
    WORKFLOW.kind: WORKFLOW,
    PARALLELISM.kind: PARALLELISM,
    BATCHING.kind: BATCHING,
    PIPELINE.kind: PIPELINE,
}


def parse_request(data: Mapping[str, Any] | str | bytes) -> SolveRequest:
    """Validate a raw request; every problem comes back as an InvalidInstance naming its field."""
    try:
        if isinstance(data, (str, bytes)):
            return request_adapter.validate_json(data)
        return request_adapter.validate_python(data)
    except ValidationError as exc:
        raise InvalidInstance(from_validation_error(exc)) from exc


def from_validation_error(exc: ValidationError) -> list[FieldError]:
    return [FieldError(tuple(e["loc"]), e["msg"], e.get("input")) for e in exc.errors(include_url=False)]


def solve(
    request: SolveRequest | Mapping[str, Any],
    *,
    started: float | None = None,
    on_progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    on_plan: PlanSink | None = None,
) -> SolveResult:
    """Solve within request.options.time_limit_s, counted from `started` (default: now).

    `on_progress` receives each improving incumbent as it is found; `cancel.cancel()` (from another
    thread) stops the search at once, and the best checked plan found so far is returned.
    `on_plan(result)` receives, before the exact engine starts, a complete provisional answer built on
    the best checked baseline plan (status `fallback`, or `optimal` if it meets the bound): what a
    caller that must answer even if this solve dies answers with."""
    started = time.monotonic() if started is None else started
    if not isinstance(request, BaseModel):
        request = parse_request(request)
    family = REGISTRY[request.kind]
    check_budget(request)
    with _instance_paths():
        return portfolio.run(family, request.instance, request.options, started, on_progress, cancel, on_plan)


def check_budget(request: SolveRequest) -> None:
    """A budget below what reading, a baseline plan and its check take for this size cannot hold: it is
    refused as bad input rather than answered late (families without a floor accept any budget). The
    service calls it when a request arrives, so a job with such a budget is never accepted."""
    floor = getattr(REGISTRY[request.kind], "min_time_limit_s", None)
    if floor is None:
        return
    need = floor(request.instance)
    limit = request.options.time_limit_s
    if limit < need:
        raise InvalidInstance(
            [
                FieldError(
                    ("options", "time_limit_s"),
                    f"{limit:g} s is too short for this instance: reading it, a checked baseline plan and "
                    f"the answer take about {need:g} s at its size; accepted: {need:g} <= time_limit_s "
                    "<= 600",
                    limit,
                )
            ]
        )


def validate(kind: str, instance: Any) -> Any:
    """The instance model, after the family's cross-field rules; errors carry request paths."""
    family = REGISTRY[kind]
    if not isinstance(instance, BaseModel):
        try:
            instance = family.instance_model.model_validate(instance)
        except ValidationError as exc:
            raise InvalidInstance(
                [FieldError(("instance", *e.loc), e.msg, e.value) for e in from_validation_error(exc)]
            ) from None
    with _instance_paths():
        family.prepare(instance)
    return instance


def check(kind: str, instance: Any, plan: Any) -> CheckReport:
    """Run a family's independent checker on a plan (models or plain dicts) for a valid instance."""
    family = REGISTRY[kind]
    instance = validate(kind, instance)
    if not isinstance(plan, BaseModel):
        try:
            plan = family.plan_model.model_validate(plan)
        except ValidationError as exc:
            raise InvalidInstance(
                [FieldError(("plan", *e.loc), e.msg, e.value) for e in from_validation_error(exc)]
            ) from None
    return family.check(instance, plan)


@contextmanager
def _instance_paths() -> Iterator[None]:
    """A family reports paths relative to the instance; callers get them relative to the request."""
    try:
        yield
    except InvalidInstance as exc:
        raise InvalidInstance(
            [FieldError(("instance", *e.loc), e.msg, e.value) for e in exc.errors]
        ) from None


__all__ = ["REGISTRY", "CancelToken", "check", "check_budget", "parse_request", "solve", "validate"]
