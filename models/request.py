"""The one request type every surface accepts, discriminated on `kind`.

Adding a family is one member in each union below (and one entry in solver's registry).

Pydantic puts the tag of a discriminated union at the front of every error location
(`workflow.instance.tasks[0]...`); the request's own paths are what callers know, so the tag is
taken off again, and a missing or unknown tag is reported at `kind`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError, ValidatorFunctionWrapHandler, WrapValidator

from models.batching import BatchingRequest, BatchingResult
from models.parallelism import ParallelismRequest, ParallelismResult
from models.pipeline import PipelineRequest, PipelineResult
from models.pods import PodsRequest, PodsResult
from models.workflow import WorkflowRequest, WorkflowResult

KINDS = ("pods", "workflow", "parallelism", "batching", "pipeline")


def _request_paths(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = tuple(e["loc"])
            if loc and loc[0] in KINDS:
                loc = loc[1:]
            elif e["type"] in ("union_tag_not_found", "union_tag_invalid"):
                loc = ("kind",)
            errors.append({**e, "loc": loc})
        raise ValidationError.from_exception_data(exc.title, errors) from None  # type: ignore[arg-type]


SolveRequest = Annotated[
    PodsRequest | WorkflowRequest | ParallelismRequest | BatchingRequest | PipelineRequest,
    Field(discriminator="kind"),
    WrapValidator(_request_paths),
]
AnySolveResult = Annotated[
    PodsResult | WorkflowResult | ParallelismResult | BatchingResult | PipelineResult,
    Field(discriminator="kind"),
]

request_adapter: TypeAdapter[SolveRequest] = TypeAdapter(SolveRequest)
