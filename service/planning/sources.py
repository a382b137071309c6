"""Expand command-line PATHs into instance items, each with a stable id, detecting every file's format.

What is read, and how a format is recognised (the readers themselves live in service.inputs):

| format    | recognised by                                                        | solved as |
|-----------|----------------------------------------------------------------------|-----------|
| json      | `*.json`: a SolveRequest {kind, instance, options}; with --kind, a bare instance | its kind |
| psplib    | `*.sm`, `*.mm`                                                       | workflow  |
| jobshop   | `*.txt` that the job-shop reader accepts (OR-Library, Taillard)      | workflow  |
| pipedream | `*.txt` with `node<i> -- ... forward_compute_time=` lines (needs --devices) | pipeline |
| pipeedge  | a folder holding `models.yml` (or that file named directly)          | pipeline  |

Directories are walked recursively in sorted order; hidden entries and `__pycache__` are ignored. A file
found by walking that is not an instance (a MANIFEST.json, a device-set JSON, a script, a README) is
*skipped*: listed on stderr, never an error. A file named explicitly on the command line that cannot
be read as an instance is an *error* (a record with status `error`, exit code 1): you asked for it.
A PATH that does not exist and matches no glob is bad input (exit 2) before anything runs.

The id of an item is its path relative to the working directory (absolute when outside it), so a
rerun from the same directory resumes where the last one stopped.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.inputs import PIPELINE_FORMATS, InputError, RequestFile
from solver import REGISTRY

MANIFEST = "MANIFEST.json"
PIPEEDGE_MODELS = "models.yml"
_PIPEDREAM_LINE = re.compile(r"^\s*node\d+\s+--\s+.*\bforward_compute_time=", re.MULTILINE)
_SNIFF_BYTES = 65536


@dataclass(frozen=True)
class Item:
    """One instance to solve: a file (or folder) in a known format, or a request held in memory."""

    id: str
    name: str  # what tables show: the file's stem, or the name given to an in-memory request
    fmt: str  # json | psplib | jobshop | pipedream | pipeedge | memory
    kind: str | None = None  # known before loading for every format but a bare JSON instance
    path: Path | None = None
    request: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    problem: str | None = None  # why it cannot be solved, known at expansion (explicitly named files)

    def load(self, kind: str | None = None, devices: str | None = None) -> dict[str, Any]:
        """The SolveRequest as plain JSON data; InputError with one line per problem otherwise."""
        if self.problem is not None:
            raise InputError([f"{self.id}: {self.problem}"])
        if self.request is not None:
            return json.loads(json.dumps(self.request))  # a private copy: options get overridden
        assert self.path is not None
        fmt = None if self.fmt == "json" else self.fmt
        flags = {"--devices": devices} if fmt in PIPELINE_FORMATS and devices is not None else None
        if kind is not None and fmt is not None and kind != self.kind:
            kind = None  # --kind is for bare JSON instances; benchmark formats know their kind
        source = RequestFile(self.path, kind, None, fmt, flags)
        return source.request.model_dump(mode="json")


@dataclass
class Expansion:
    items: list[Item]
    skipped: list[tuple[str, str]]  # (path, reason): found by walking, not instances


def item_from_request(name: str, request: Mapping[str, Any]) -> Item:
    """An in-memory SolveRequest (e.g. from a generator) as an item; `name` is its id."""
    kind = request.get("kind") if isinstance(request, Mapping) else None
    return Item(
        id=name, name=name, fmt="memory", kind=kind if isinstance(kind, str) else None, request=request
    )


def expand(
    paths: Iterable[str | Path | Item], kind: str | None = None, devices: str | None = None
) -> Expansion:
    """Items in the order given (directories sorted), each once; raises InputError for missing PATHs."""
    items: dict[str, Item] = {}
    skipped: list[tuple[str, str]] = []
    missing: list[str] = []
    for entry in paths:
        if isinstance(entry, Item):
            items.setdefault(entry.id, entry)
            continue
        for path, explicit in _paths(str(entry), missing):
            for found in _walk(path, explicit, kind, devices):
                if isinstance(found, Item):
                    items.setdefault(found.id, found)
                elif found not in skipped:
                    skipped.append(found)
    if missing:
        raise InputError([f"{p}: no such file or directory, nor a glob that matches a file" for p in missing])
    return Expansion(list(items.values()), skipped)


def _paths(text: str, missing: list[str]) -> list[tuple[Path, bool]]:
    path = Path(text)
    if path.exists():
        return [(path, True)]
    if glob.has_magic(text):
        matches = sorted(glob.glob(text, recursive=True))
        if matches:  # a glob's matches are found, not named: non-instances among them are skipped
            return [(Path(m), False) for m in matches]
    missing.append(text)
    return []


Found = Item | tuple[str, str]  # an item, or (path, reason) for a file skipped


def _walk(path: Path, explicit: bool, kind: str | None, devices: str | None) -> Iterable[Found]:
    if path.is_dir():
        if (path / PIPEEDGE_MODELS).is_file():
            yield _item(path, "pipeedge", "pipeline")
            return
        for child in sorted(path.iterdir()):
            if child.name.startswith(".") or child.name == "__pycache__":
                continue
            yield from _walk(child, False, kind, devices)
        return
    fmt, found_kind, reason = detect(path, kind, devices)
    if fmt is not None:  # models.yml named: the PipeEdge folder it describes
        yield _item(path.parent if fmt == "pipeedge" else path, fmt, found_kind)
    elif explicit:
        yield Item(id=_id(path), name=path.stem, fmt="unknown", path=path, problem=reason)
    else:
        yield _id(path), reason


Sniffed = tuple[str | None, str | None, str]  # (format, kind, why not an instance)


def detect(path: Path, kind: str | None = None, devices: str | None = None) -> Sniffed:
    """(format, kind, reason): the format is None when the file is not an instance we can solve."""
    suffix = path.suffix.lower()
    for matches, sniff in FORMATS.values():
        if matches(path, suffix):
            return sniff(path, kind, devices)
    return None, None, "not an instance file (known: *.json, *.sm, *.mm, *.txt, PipeEdge folders)"


def _json(path: Path, kind: str | None, devices: str | None) -> Sniffed:
    if path.name == MANIFEST:
        return None, None, "an instance set's manifest, not an instance"
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        return None, None, f"not readable JSON: {exc}"
    if isinstance(data, dict) and "instance" in data:
        found = data.get("kind", kind)
        if not isinstance(found, str) or found not in REGISTRY:
            return None, None, f"unknown kind {found!r} (known: {', '.join(sorted(REGISTRY))})"
        return "json", found, ""
    if kind is not None:
        return "json", kind, ""  # a bare instance of --kind
    return (
        None,
        None,
        "JSON but not a SolveRequest ({kind, instance, options}); for bare instances pass --kind",
    )


def _psplib(path: Path, kind: str | None, devices: str | None) -> Sniffed:
    return "psplib", "workflow", ""


def _text(path: Path, kind: str | None, devices: str | None) -> Sniffed:
    from solver.workflow.formats import read_jobshop

    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES).decode("utf-8", errors="replace")
    except OSError as exc:
        return None, None, f"cannot read: {exc.strerror or exc}"
    if _PIPEDREAM_LINE.search(head):
        if devices is None:
            return (
                None,
                None,
                "a PipeDream profile: pass --devices (a count or a device-set JSON) to solve it",
            )
        return "pipedream", "pipeline", ""
    try:
        read_jobshop(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, None, f"neither a job-shop file nor a PipeDream profile ({exc})"
    return "jobshop", "workflow", ""


def _pipeedge(path: Path, kind: str | None, devices: str | None) -> Sniffed:
    return "pipeedge", "pipeline", ""


Sniffer = Callable[[Path, str | None, str | None], Sniffed]

# Adding a file format: a reader in service.inputs and one line here.
FORMATS: dict[str, tuple[Callable[[Path, str], bool], Sniffer]] = {
    "json": (lambda p, s: s == ".json", _json),
    "psplib": (lambda p, s: s in (".sm", ".mm"), _psplib),
    "jobshop/pipedream": (lambda p, s: s == ".txt", _text),
    "pipeedge": (lambda p, s: p.name == PIPEEDGE_MODELS, _pipeedge),
}


def _item(path: Path, fmt: str, kind: str | None) -> Item:
    name = path.name if path.is_dir() else path.name.split(".")[0]
    return Item(id=_id(path), name=name, fmt=fmt, kind=kind, path=path)


def _id(path: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return os.fspath(resolved)


def describe_skipped(skipped: Sequence[tuple[str, str]], limit: int = 12) -> list[str]:
    lines = [f"skipped {path}: {reason}" for path, reason in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"skipped {len(skipped) - limit} more files that are not instances")
    return lines
