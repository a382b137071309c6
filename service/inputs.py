"""Reading request, instance and plan files for the CLI, with errors that say where the problem is.

Every problem becomes one line `<where>: <reason>`: the JSON path inside the file, the flag that set
the value, or the file itself when it cannot be read or parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from models.request import SolveRequest
from solver import REGISTRY, parse_request
from solver.engine.errors import FieldError, InvalidInstance

Overrides = Mapping[str, tuple[str, Any]]  # option name -> (the flag that set it, its value)


class InputError(Exception):
    """Bad input for a command: one line per problem."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def read_json(path: Path) -> Any:
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # ValueError covers bad JSON and bad UTF-8
        raise InputError([f"{path}: not valid JSON: {exc}"]) from None


def read_benchmark(path: Path, fmt: str) -> dict[str, Any]:
    """A PSPLIB (.sm, .mm) or job-shop (OR-Library, Taillard) file as a workflow instance."""
    from solver.workflow.formats import FormatError, read_jobshop, read_psplib

    readers = {"psplib": read_psplib, "jobshop": read_jobshop}
    if fmt not in readers:
        raise InputError([f"--format: unknown format {fmt!r} (known: json, {', '.join(readers)})"])
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"]) from None
    try:
        instance = readers[fmt](text)
    except ValueError as exc:  # FormatError, or a value the instance model refuses
        where = "" if isinstance(exc, FormatError) else "not a valid instance: "
        raise InputError([f"{path}: {where}{exc}"]) from None
    return instance.model_dump(mode="json", exclude_defaults=True)


def check_kind(kind: str) -> None:
    if kind not in REGISTRY:
        raise InputError([f"--kind: unknown kind {kind!r} (known: {', '.join(sorted(REGISTRY))})"])


class RequestFile:
    """A SolveRequest read from a file (or, given a kind, a bare instance), flags overriding its options.

    `flags` maps each overridden option to the flag that set it, so an error about the value names
    the flag rather than a path the file does not contain.
    """

    def __init__(
        self, path: Path, kind: str | None = None, overrides: Overrides | None = None, fmt: str | None = None
    ):
        if kind is not None:
            check_kind(kind)
        overrides = overrides or {}
        self.flags = {name: flag for name, (flag, _) in overrides.items()}
        if fmt is not None:  # a benchmark file: a workflow instance, read by its format's reader
            if kind not in (None, "workflow"):
                raise InputError([f"--format {fmt}: reads workflow instances, not --kind {kind}"])
            kind = "workflow"
            data: Any = {"kind": kind, "instance": read_benchmark(path, fmt)}
        else:
            data = read_json(path)
        self.bare = kind is not None and not (isinstance(data, dict) and "instance" in data)
        if self.bare:
            data = {"kind": kind, "instance": data}
        elif not isinstance(data, dict) or "instance" not in data:
            raise InputError(
                [
                    f"{path}: not a SolveRequest (an object with kind, instance and options); "
                    "for a bare instance pass --kind"
                ]
            )
        elif kind is not None and data.setdefault("kind", kind) != kind:
            raise InputError([f"kind: the file says {data.get('kind')!r}, --kind says {kind!r}"])
        options = data.get("options", {})
        if overrides and isinstance(options, dict):  # otherwise validation names `options` itself
            data["options"] = {**options, **{name: value for name, (_, value) in overrides.items()}}
        self.request = self._parse(data)

    def _parse(self, data: Any) -> SolveRequest:
        try:
            return parse_request(data)
        except InvalidInstance as exc:
            raise InputError(self.describe(exc.errors)) from None

    def describe(self, errors: Iterable[FieldError]) -> list[str]:
        return [f"{self._where(e.loc)}: {e.msg}" for e in errors]

    def _where(self, loc: tuple[str | int, ...]) -> str:
        if loc[:1] == ("options",) and len(loc) > 1 and loc[1] in self.flags:
            return self.flags[str(loc[1])]
        if self.bare and loc[:1] == ("instance",):
            return json_path(loc[1:])
        return json_path(loc)


def json_path(loc: tuple[str | int, ...]) -> str:
    return FieldError(loc, "").path()


def load_plan(path: Path) -> tuple[Any, tuple[str, ...]]:
    """A plan file, or a whole SolveResult file (its `plan`); also the path prefix of the plan inside."""
    data = read_json(path)
    if isinstance(data, dict) and "plan" in data and "status" in data:
        if data["plan"] is None:
            raise InputError([f"{path}: plan: the result has no plan (status {data['status']})"])
        return data["plan"], ("plan",)
    return data, ()
