"""One monotonic clock per request: every stage asks it how much time is left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from solver.engine.errors import DeadlineExceeded


@dataclass
class Deadline:
    time_limit_s: float
    started: float = field(default_factory=time.monotonic)

    @property
    def at(self) -> float:
        return self.started + self.time_limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def check(self, stage: str = "") -> None:
        """Raise DeadlineExceeded when the budget is spent; model builders call it in their loops."""
        if self.expired():
            raise DeadlineExceeded(
                f"time limit of {self.time_limit_s:g} s reached{' during ' + stage if stage else ''}"
            )

    def sub(self, seconds: float) -> Deadline:
        """A child deadline of at most `seconds`, never later than this one."""
        return Deadline(min(max(0.0, seconds), self.remaining()))
