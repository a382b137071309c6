"""Public contract of schedopt: pydantic v2 schemas for requests, instances, plans and results."""

from models.common import EngineName, Explanation, SolveOptions, SolveResult, Stats, Status
from models.request import AnySolveResult, SolveRequest, request_adapter

__all__ = [
    "AnySolveResult",
    "EngineName",
    "Explanation",
    "SolveOptions",
    "SolveRequest",
    "SolveResult",
    "Stats",
    "Status",
    "request_adapter",
]
