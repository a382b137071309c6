"""Limits on what a request may contain: per-family instance size caps (every top-level list of an
instance has a limit in settings), and integers that every JSON implementation can represent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from service.settings import Settings


class InstanceTooLarge(Exception):
    """413: the errors name each list over its limit and the setting that sets it."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


def limit_for(settings: Settings, kind: str, field: str) -> tuple[int, str]:
    key = f"{kind}.{field}"
    if key in settings.instance_limits:
        return settings.instance_limits[key], f"SCHEDOPT_INSTANCE_LIMITS[{key!r}]"
    return settings.max_list_items, "SCHEDOPT_MAX_LIST_ITEMS"


def check_instance_size(kind: str, instance: BaseModel, settings: Settings, loc: tuple[str, ...]) -> None:
    errors = []
    for field in type(instance).model_fields:
        value = getattr(instance, field)
        if not isinstance(value, list):
            continue
        limit, setting = limit_for(settings, kind, field)
        if len(value) > limit:
            errors.append(
                {
                    "type": "too_large",
                    "loc": [*loc, field],
                    "msg": f"{len(value)} {field}: the limit for {kind} is {limit} ({setting})",
                    "ctx": {"limit": limit, "setting": setting},
                }
            )
    if errors:
        raise InstanceTooLarge(errors)


MAX_SAFE_INTEGER = 2**53 - 1  # I-JSON (RFC 7493, 2.2): beyond it, JSON numbers are not interoperable


def out_of_range_integers(data: Any, loc: tuple[str | int, ...] = ()) -> Iterator[dict[str, Any]]:
    """422 errors for integers beyond +-(2**53 - 1): JavaScript clients cannot even send or read them,
    and the solvers' int64 arithmetic would overflow on them (a 500, not an answer)."""
    if isinstance(data, bool):
        return
    if isinstance(data, int):
        if abs(data) > MAX_SAFE_INTEGER:
            yield {
                "type": "less_than_equal",
                "loc": loc,
                "msg": f"integers must be within +-{MAX_SAFE_INTEGER} (2**53 - 1, I-JSON, RFC 7493)",
                "input": data,
                "ctx": {"le": MAX_SAFE_INTEGER},
            }
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from out_of_range_integers(value, (*loc, key))
    elif isinstance(data, list | tuple):
        for i, value in enumerate(data):
            yield from out_of_range_integers(value, (*loc, i))
