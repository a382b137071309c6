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


PIPELINE_FORMATS = ("pipedream", "pipeedge")


def read_pipeline(path: Path, fmt: str, flags: Mapping[str, Any]) -> dict[str, Any]:
    """A PipeDream graph.txt or PipeEdge's YAML (a folder, or its models.yml) as a pipeline instance.

    `flags` maps a flag to its value: --devices (a count of identical devices, or a device-set JSON:
    {"devices", "network", "speedup"}), --device-type, --memory-gib, --bandwidth-gbps (with a count),
    --mode, --objective, --microbatches, --max-stages, --model (PipeEdge)."""
    from pydantic import ValidationError

    from solver.pipeline import formats

    def flag(name: str, default: Any = None) -> Any:
        value = flags.get(name)
        return default if value is None else value

    count_only = ("--device-type", "--memory-gib", "--bandwidth-gbps")
    devices_arg = flag("--devices")
    devices = network = None
    speedup: dict[str, float] = {}
    try:
        if devices_arg is not None and str(devices_arg).isdigit():
            n = int(devices_arg)
            if n < 1:
                raise InputError(["--devices: a count must be >= 1"])
            memory = flag("--memory-gib", 16.0)
            bandwidth = flag("--bandwidth-gbps", 10.0)
            if not memory > 0 or not bandwidth > 0:
                raise InputError(["--memory-gib, --bandwidth-gbps: must be > 0"])
            devices, network = formats.identical_devices(
                n, int(memory * 2**30), bandwidth, flag("--device-type", "gpu")
            )
        else:
            if stray := [f for f in count_only if flags.get(f) is not None]:
                raise InputError([f"{f}: only with --devices N (identical devices)" for f in stray])
            if devices_arg is not None:
                devices, network, speedup = formats.device_set(read_json(Path(devices_arg)))
        if fmt == "pipedream":
            if flags.get("--model") is not None:
                raise InputError(["--model: only with --format pipeedge"])
            if devices is None:
                raise InputError(["--devices: pipedream profiles need a device set (a count or a JSON file)"])
            try:
                text = path.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise InputError([f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"]) from None
            assert network is not None
            instance = formats.read_pipedream(
                text,
                devices,
                network,
                speedup,
                mode=flag("--mode", "inference"),
                objective=flag("--objective", "throughput"),
                microbatches=flag("--microbatches", 1),
                max_stages=flags.get("--max-stages"),
            )
        else:
            for f in ("--mode", "--microbatches"):
                if flags.get(f) is not None:
                    raise InputError([f"{f}: PipeEdge profiles are forward-only (inference)"])
            folder = path if path.is_dir() else path.parent
            instance, _notes = formats.read_pipeedge_dir(
                folder,
                model=flags.get("--model"),
                devices=devices,
                network=network,
                objective=flag("--objective", "throughput"),
                max_stages=flags.get("--max-stages"),
            )
    except formats.FormatError as exc:
        raise InputError([f"{path}: {exc}"]) from None
    except ValidationError as exc:
        where = f"{devices_arg}" if devices_arg is not None else str(path)
        raise InputError([f"{where}: {e['loc']}: {e['msg']}" for e in exc.errors()]) from None
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
        self,
        path: Path,
        kind: str | None = None,
        overrides: Overrides | None = None,
        fmt: str | None = None,
        pipeline: Mapping[str, Any] | None = None,
    ):
        if kind is not None:
            check_kind(kind)
        overrides = overrides or {}
        self.flags = {name: flag for name, (flag, _) in overrides.items()}
        if fmt in PIPELINE_FORMATS:  # a profile: a pipeline instance on the device set of the flags
            if kind not in (None, "pipeline"):
                raise InputError([f"--format {fmt}: reads pipeline instances, not --kind {kind}"])
            kind = "pipeline"
            data: Any = {"kind": kind, "instance": read_pipeline(path, fmt, pipeline or {})}
        elif pipeline:
            raise InputError([f"{flag}: only with --format pipedream or pipeedge" for flag in pipeline])
        elif fmt is not None:  # a benchmark file: a workflow instance, read by its format's reader
            if kind not in (None, "workflow"):
                raise InputError([f"--format {fmt}: reads workflow instances, not --kind {kind}"])
            kind = "workflow"
            data = {"kind": kind, "instance": read_benchmark(path, fmt)}
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
