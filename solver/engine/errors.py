"""Errors that cross the solver's boundary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with the input: where (a JSON path), what is wrong, and the value seen."""

    loc: tuple[str | int, ...]
    msg: str
    value: Any = None

    def path(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "(root)"

    def __str__(self) -> str:
        return f"{self.path()}: {self.msg}"


class InvalidInstance(ValueError):
    """Bad input: never a status, always an error that names the field and the reason."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class DeadlineExceeded(RuntimeError):
    """The budget ran out inside a stage (model building, typically)."""


class EngineDeclined(RuntimeError):
    """An engine refuses an instance it cannot handle within the budget or memory; says why."""
