"""A solver worker process: takes one Task at a time from its pipe and reports as it goes.

Two threads: the main one solves; a listener reads the pipe so that a Cancel reaches the running
search at once (CancelToken.cancel stops CP-SAT from another thread). When the web process goes
away the pipe closes and the worker exits: nobody is left to answer.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import traceback
from multiprocessing.connection import Connection
from typing import Any

import solver
from models.common import ProgressPoint, SolveResult
from service import logs
from service.jobs.protocol import (
    Cancel,
    Done,
    Failed,
    Fallback,
    Fault,
    FromWorker,
    Incumbent,
    Invalid,
    Ready,
    Stop,
    Summary,
    Task,
)
from solver.engine.budget import CancelToken
from solver.engine.errors import InvalidInstance

log = logging.getLogger("schedopt.worker")

EXIT_FAULT = 70
HANG_FOREVER_S = 3600.0


def main(conn: Connection, log_level: str | None = None, nice: int = 0) -> None:
    """Process entry point (multiprocessing target)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group; the web stops us
    if nice:
        os.nice(nice)  # below the web process, which must get a core at every deadline
    if log_level is not None:
        logs.configure(log_level)
    _Worker(conn).serve()


class _Worker:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.send_lock = threading.Lock()
        self.state_lock = threading.Lock()
        self.tasks: queue.SimpleQueue[Task | None] = queue.SimpleQueue()
        self.current: tuple[str, CancelToken] | None = None
        self.cancelled: set[str] = set()

    def send(self, message: FromWorker) -> None:
        with self.send_lock:  # the solver's thread (progress) and this one (results) both send
            self.conn.send(message)

    def serve(self) -> None:
        threading.Thread(target=self._listen, name="schedopt-worker-listener", daemon=True).start()
        self.send(Ready(os.getpid()))
        while (task := self.tasks.get()) is not None:
            self._run(task)

    def _listen(self) -> None:
        try:
            while True:
                message = self.conn.recv()
                if isinstance(message, Task):
                    self.tasks.put(message)
                elif isinstance(message, Cancel):
                    self._cancel(message.id)
                elif isinstance(message, Stop):
                    self.tasks.put(None)
                    return
        except (EOFError, OSError):
            os._exit(0)

    def _cancel(self, task_id: str) -> None:
        with self.state_lock:
            if self.current is not None and self.current[0] == task_id:
                token = self.current[1]
            else:  # not started yet: cancelled as soon as it starts
                self.cancelled.add(task_id)
                return
        token.cancel()

    def _run(self, task: Task) -> None:
        token = CancelToken()
        with self.state_lock:
            self.current = (task.id, token)
            if task.id in self.cancelled:
                token.cancel()
            self.cancelled.clear()  # one task at a time: any other id is a cancel that came too late
        try:
            if task.fault is Fault.crash_early:
                os._exit(EXIT_FAULT)
            request = solver.parse_request(task.request)

            def fallback(result: SolveResult) -> None:
                """The portfolio's provisional answer (its best checked baseline): what the web
                process answers with if this process dies or overruns from here on."""
                self.send(Fallback(task.id, result.model_dump_json().encode()))
                if task.fault is Fault.crash:
                    os._exit(EXIT_FAULT)
                if task.fault is Fault.hang:
                    threading.Event().wait(HANG_FOREVER_S)  # deaf to the limit and to Cancel alike

            if task.fault is Fault.ignore_limit:
                request = request.model_copy(
                    update={"options": request.options.model_copy(update={"time_limit_s": 600.0})}
                )

            def progress(point: ProgressPoint) -> None:
                self.send(Incumbent(task.id, point.model_dump(mode="json")))

            result = solver.solve(
                request, started=task.started, on_progress=progress, cancel=token, on_plan=fallback
            )
            self.send(Done(task.id, result.model_dump_json().encode(), summarise(result)))
        except InvalidInstance as exc:
            self.send(Invalid(task.id, [_error(e.loc, e.msg, e.value) for e in exc.errors]))
        except Exception as exc:  # a solver defect: report it, keep serving
            log.error("solve failed: %s", "".join(traceback.format_exception(exc)))
            self.send(Failed(task.id, f"{type(exc).__name__}: {exc}"))
        finally:
            with self.state_lock:
                self.current = None


def summarise(result: SolveResult) -> Summary:
    return Summary(status=str(result.status), engine=result.engine, gap=result.gap)


def _error(loc: tuple[str | int, ...], msg: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "value_error", "loc": ["body", *loc], "msg": msg}
    if value is not None:
        out["input"] = value
    return out
