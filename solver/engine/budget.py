"""One monotonic clock per request: every stage asks it how much time is left.

A request can also be stopped early (a cancelled job): the CancelToken is shared by the request's
deadline and every sub-deadline cut from it, and running engines register a hook on it (CP-SAT's
stop_search) so the search ends now and the best plan found so far is returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from solver.engine.errors import DeadlineExceeded


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            hooks = list(self._hooks)
        for hook in hooks:
            hook()

    @contextmanager
    def hook(self, fn: Callable[[], None]) -> Iterator[None]:
        """Call fn on cancel while the block runs (at once if already cancelled)."""
        with self._lock:
            self._hooks.append(fn)
            already = self._event.is_set()
        if already:
            fn()
        try:
            yield
        finally:
            with self._lock:
                self._hooks.remove(fn)


@dataclass
class Deadline:
    time_limit_s: float
    started: float = field(default_factory=time.monotonic)
    token: CancelToken = field(default_factory=CancelToken)

    @property
    def at(self) -> float:
        return self.started + self.time_limit_s

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        if self.token.cancelled:
            return 0.0
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return self.token.cancelled or time.monotonic() >= self.at

    def check(self, stage: str = "") -> None:
        """Raise DeadlineExceeded when the budget is spent; model builders call it in their loops."""
        if self.expired():
            why = (
                "the request was cancelled"
                if self.token.cancelled
                else f"time limit {self.time_limit_s:g} s reached"
            )
            raise DeadlineExceeded(f"{why}{' during ' + stage if stage else ''}")

    def sub(self, seconds: float) -> Deadline:
        """A child deadline of at most `seconds`, never later than this one, cancelled with it."""
        return Deadline(min(max(0.0, seconds), self.remaining()), token=self.token)
