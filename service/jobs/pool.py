"""The pool of solver processes, driven from the web process's event loop.

Every dispatched run gets a timer at its deadline + grace. A worker that has not answered by then is
killed, the run is answered with the best plan the worker reported (the heuristic's at least), and a
fresh worker takes the slot; a worker that crashes costs its own run only. Workers are forked from a
forkserver that imported the solver once, so a replacement is ready in 30-70 ms (measured; a spawned
interpreter would need ~0.4 s) and inherits no thread or OR-Tools state from the web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import multiprocessing
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Literal

from models.common import Stats, Status
from service.jobs import worker
from service.jobs.protocol import (
    Cancel,
    Done,
    Failed,
    Fallback,
    FromWorker,
    Incumbent,
    Invalid,
    Ready,
    Stop,
    Summary,
    Task,
    ToWorker,
)
from service.jobs.runs import Backpressure, Outcome, OutcomeKind, Run, RunQueue
from service.metrics import Metrics
from solver import REGISTRY

log = logging.getLogger("schedopt.pool")

State = Literal["starting", "idle", "busy", "dead"]
SPAWN_ESTIMATE_S = 0.07  # a replacement worker is ready 30-70 ms after its predecessor died (measured)
OBSERVED = 50  # recent runs per kind the wait estimate goes by
MIN_OBSERVED = 5
TYPICAL_QUANTILE = 0.75  # measured: 0.5 let late 503s through, 0.9 refused too many (service_load)
MAX_BACKOFF_S = 5.0


@dataclass(eq=False)
class _Worker:
    """One worker process and the two threads that carry its pipe."""

    slot: int
    proc: BaseProcess
    conn: Connection
    state: State = "starting"
    run: Run | None = None
    pid: int | None = None
    outbox: queue.SimpleQueue[ToWorker | None] = field(default_factory=queue.SimpleQueue)

    def start_threads(self, deliver: Callable[[_Worker, FromWorker | None], None]) -> None:
        threading.Thread(
            target=self._read, args=(deliver,), name=f"schedopt-read-{self.slot}", daemon=True
        ).start()
        threading.Thread(target=self._write, name=f"schedopt-write-{self.slot}", daemon=True).start()

    def send(self, message: ToWorker) -> None:
        self.outbox.put(message)

    def _read(self, deliver: Callable[[_Worker, FromWorker | None], None]) -> None:
        try:
            while True:
                deliver(self, self.conn.recv())
        except (EOFError, OSError):
            pass
        finally:
            self.outbox.put(None)
            deliver(self, None)  # the process is gone

    def _write(self) -> None:
        while (message := self.outbox.get()) is not None:
            try:
                self.conn.send(message)
            except OSError:  # the reader reports the exit
                return

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()


class WorkerPool:
    def __init__(
        self,
        size: int,
        *,
        grace_s: float,
        cancel_grace_s: float,
        queue_max: int,
        sync_min_slice_s: float,
        metrics: Metrics,
        log_level: str | None = None,
        nice: int = 0,
    ) -> None:
        self.size = size
        self.grace_s = grace_s
        self.cancel_grace_s = cancel_grace_s
        self.sync_min_slice_s = sync_min_slice_s
        self.metrics = metrics
        self.log_level = log_level  # workers log JSON too when the service does
        self.nice = nice
        self.queue = RunQueue(queue_max)
        self._ctx = multiprocessing.get_context("forkserver")
        # The solver is imported once, in the forkserver. Each child still imports the main script again
        # (as __mp_main__; ~40 ms for `schedopt serve`, nothing for `python -m ...`), so a main script
        # must guard its entry point with `if __name__ == "__main__"`.
        self._ctx.set_forkserver_preload(["service.jobs.worker"])
        self._workers: list[_Worker] = []
        self._ratios: dict[str, deque[float]] = {}  # recent busy times / time_limit_s, by kind
        self._failures: dict[int, int] = {}  # consecutive deaths before Ready, by slot
        self._replacing: set[asyncio.Task[None]] = set()
        self._closing = False
        self._full = asyncio.Event()  # set while every slot has a live worker
        self._loop: asyncio.AbstractEventLoop | None = None
        metrics.bind_pool(self)

    # lifecycle

    async def start(self, timeout_s: float = 60.0) -> None:
        self._loop = asyncio.get_running_loop()
        for slot in range(self.size):  # in order: slot i is self._workers[i]
            await self._spawn(slot)
        await self.wait_full(timeout_s)

    async def wait_full(self, timeout_s: float = 60.0) -> None:
        """Until every slot has a live worker (replacements included)."""
        await asyncio.wait_for(self._full.wait(), timeout_s)

    async def stop(self) -> None:
        """Kill every worker. Runs still queued or running are cancelled: their jobs stay unfinished in
        the store and run again at the next start."""
        self._closing = True
        for task in list(self._replacing):
            task.cancel()
        for run in list(self.queue):
            run.future.cancel()
        self.queue = RunQueue(self.queue.max_depth)
        for w in self._workers:
            if w.run is not None:
                w.run.future.cancel()
            w.state = "dead"
            w.send(Stop())
            w.kill()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, w.proc.join, 5.0) for w in self._workers))

    # what the service asks

    @property
    def alive(self) -> int:
        return sum(w.state in ("idle", "busy") for w in self._workers)

    @property
    def busy(self) -> int:
        return sum(w.state == "busy" for w in self._workers)

    def pids(self) -> list[int]:
        return [w.pid for w in self._workers if w.pid is not None and w.state != "dead"]

    def pid_of(self, run: Run) -> int | None:
        w = self._worker_of(run)
        return None if w is None else w.pid

    def submit(self, run: Run, *, force: bool = False) -> None:
        """Queue a run, or refuse it at once (Backpressure). force: a recovered job, accepted before."""
        now = time.monotonic()
        if not force:
            self.check_room()
        if run.sync:
            assert run.deadline is not None, "a synchronous run counts from its arrival"
            wait = self.expected_wait(now)
            left = run.deadline - now
            if wait + self.sync_min_slice_s > left:
                self.metrics.rejected.labels("budget").inc()
                raise Backpressure(
                    f"every worker is busy: this solve would wait ~{wait:.3f} s for one, more than the "
                    f"{max(left, 0):.3f} s left of its time_limit_s; retry later or use POST /v1/jobs",
                    max(wait, 1.0),
                    "budget",
                )
            loop = self._running_loop()
            run.timer = loop.call_at(run.deadline - self.sync_min_slice_s, self._expire_queued, run)
        self.queue.push(run)
        self._dispatch()

    def check_room(self) -> None:
        """Backpressure when the queue is full."""
        if self.queue.full:
            self.metrics.rejected.labels("queue_full").inc()
            raise Backpressure(
                f"the queue is full ({len(self.queue)} solves waiting; SCHEDOPT_QUEUE_MAX = "
                f"{self.queue.max_depth}); retry later",
                self._retry_after(time.monotonic()),
                "queue_full",
            )

    def cancel(self, run: Run) -> None:
        """Stop a run now: out of the queue, or a Cancel to its worker, which hands back its best plan.
        A worker that does not answer within cancel_grace_s is killed like an overrunning one."""
        run.cancelled = True
        if self.queue.remove(run):
            run.finish(Outcome("cancelled"))
            return
        w = self._worker_of(run)
        if w is None:
            return
        w.send(Cancel(run.id))
        limit = time.monotonic() + self.cancel_grace_s
        if run.deadline is not None:
            limit = min(limit, run.deadline + self.grace_s)
        if run.timer is not None:
            run.timer.cancel()
        run.timer = self._running_loop().call_at(limit, self._overrun, w, run, "cancel_timeout")

    def expected_wait(self, now: float) -> float:
        """When a synchronous run submitted now would reach a worker: busy workers free up after their
        typical share of the budget (never later than their kill time), queued synchronous runs go first."""
        free: list[float] = []
        for w in self._workers:
            if w.state == "idle":
                free.append(now)
            elif w.state == "busy" and w.run is not None and w.run.deadline is not None:
                typical = (w.run.dispatched_at or now) + self._typical(w.run)
                free.append(max(now, min(w.run.deadline + self.grace_s, typical)))
            else:  # starting, or dead and being replaced
                free.append(now + SPAWN_ESTIMATE_S)
        if not free:
            return math.inf
        heapq.heapify(free)
        for run in self.queue.sync:
            start = heapq.heappop(free)
            assert run.deadline is not None
            heapq.heappush(free, start + min(self._typical(run), max(0.0, run.deadline - start)))
        return max(0.0, free[0] - now)

    # internals: spawning and replacing

    async def _spawn(self, slot: int) -> _Worker:
        """Start a worker in `slot`. It takes the slot before its reader thread starts, so its Ready
        (which may be handled before the caller resumes) always finds it there."""
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=worker.main,
            args=(child, self.log_level, self.nice),
            name=f"schedopt-worker-{slot}",
            daemon=True,
        )
        await asyncio.get_running_loop().run_in_executor(None, proc.start)
        child.close()
        w = _Worker(slot, proc, parent)
        if slot < len(self._workers):
            self._workers[slot] = w  # a replacement
        else:
            self._workers.append(w)
        w.start_threads(self._deliver)
        return w

    def _replace(self, dead: _Worker) -> None:
        if self._closing:
            return
        task = asyncio.ensure_future(self._respawn(dead))
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)

    async def _respawn(self, dead: _Worker) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, dead.proc.join, 5.0)
        failures = self._failures.get(dead.slot, 0)
        if failures:  # dying before Ready again and again: back off rather than fork in a loop
            await asyncio.sleep(min(MAX_BACKOFF_S, 0.1 * 2**failures))
        if self._closing:
            return
        fresh = await self._spawn(dead.slot)
        if self._closing:
            fresh.kill()

    # internals: messages from workers (called on the loop thread)

    def _deliver(self, w: _Worker, message: FromWorker | None) -> None:
        """From a reader thread: hand the message to the event loop."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the service is stopping
            self._running_loop().call_soon_threadsafe(self._on_message, w, message)

    def _on_message(self, w: _Worker, message: FromWorker | None) -> None:
        if message is None:
            self._on_exit(w)
            return
        if w.state == "dead":  # killed; anything it still had in the pipe is too late
            return
        if isinstance(message, Ready):
            w.state, w.pid = "idle", message.pid
            self._failures.pop(w.slot, None)
            if self.alive == self.size:
                self._full.set()
            self._dispatch()
            return
        run = w.run
        if run is None or message.id != run.id:
            return
        if isinstance(message, Incumbent):
            run.progress.append(message.point)
            if run.on_incumbent is not None:
                run.on_incumbent(message.point)
        elif isinstance(message, Fallback):
            run.fallback = message.result
        elif isinstance(message, Done):
            self._complete(w, run, Outcome("done", message.result, message.summary))
        elif isinstance(message, Invalid):
            self._complete(w, run, Outcome("invalid", errors=message.errors))
        elif isinstance(message, Failed):
            why = f"defect: the solver raised {message.error}"
            self._complete(w, run, self._salvage(run, "failed", why))

    def _complete(self, w: _Worker, run: Run, outcome: Outcome) -> None:
        w.run, w.state = None, "idle"
        self._observe(run)
        run.finish(outcome)
        self._dispatch()

    def _on_exit(self, w: _Worker) -> None:
        if w.state == "dead":
            return
        if w.state == "starting":
            self._failures[w.slot] = self._failures.get(w.slot, 0) + 1
        code = w.proc.exitcode
        w.state = "dead"
        self._full.clear()
        log.error("worker %s (pid %s) exited (code %s)", w.slot, w.pid, code)
        self.metrics.worker_restarts.labels("crash").inc()
        run, w.run = w.run, None
        if run is not None:
            run.finish(
                self._salvage(
                    run,
                    "crash",
                    "the worker solving this request crashed; this is the best plan it had reported",
                )
            )
        self._replace(w)
        self._dispatch()

    def _overrun(self, w: _Worker, run: Run, reason: str) -> None:
        """The worker missed its deadline + grace (or a cancel's grace): kill it and answer now."""
        if w.run is not run or w.state == "dead":
            return
        w.kill()
        w.state, w.run = "dead", None
        self._full.clear()
        log.warning("worker %s (pid %s) killed: %s", w.slot, w.pid, reason)
        self._observe(run)
        self.metrics.worker_restarts.labels(reason).inc()
        why = (
            f"the solver did not answer within time_limit_s + {self.grace_s:g} s; it was stopped and "
            "this is the best plan it had reported"
            if reason == "overrun"
            else "the cancelled solver did not hand back its plan in time; it was stopped and this is "
            "the best plan it had reported"
        )
        run.finish(self._salvage(run, "timeout", why))
        self._replace(w)
        self._dispatch()

    def _expire_queued(self, run: Run) -> None:
        if self.queue.remove(run):
            self.metrics.rejected.labels("expired").inc()
            run.finish(
                Backpressure("no worker was free within the time_limit_s; retry later", 1.0, "expired")
            )

    def _dispatch(self) -> None:
        if self._closing:
            return
        loop = self._running_loop()
        idle = [w for w in self._workers if w.state == "idle"]
        while idle and self.queue:
            run = self.queue.pop()
            assert run is not None
            now = time.monotonic()
            if run.sync:
                assert run.deadline is not None
                if run.deadline - now < self.sync_min_slice_s:
                    self.metrics.rejected.labels("expired").inc()
                    run.finish(Backpressure("no worker was free in time; retry later", 1.0, "expired"))
                    continue
            else:
                run.started = now
            if run.timer is not None:
                run.timer.cancel()
            w = idle.pop()
            w.state, w.run, run.dispatched_at = "busy", run, now
            w.send(Task(run.id, run.request, run.started or now, run.fault))
            assert run.deadline is not None
            run.timer = loop.call_at(run.deadline + self.grace_s, self._overrun, w, run, "overrun")
            if run.on_start is not None:
                run.on_start()

    # internals: helpers

    def _salvage(self, run: Run, kind: OutcomeKind, why: str) -> Outcome:
        """The best plan the worker reported, as the answer, with a warning that says why."""
        elapsed = round(time.monotonic() - (run.started or time.monotonic()), 6)
        if run.fallback is None:
            if kind != "timeout":  # the request is lost; the caller learns why
                return Outcome(kind, error=f"{why.split(';')[0]}, before it had any plan")
            family = REGISTRY[run.kind]
            empty = family.result_model(
                kind=run.kind,
                status=Status.fallback,
                engine="none",
                warnings=[f"{why.split(';')[0]}, before it had any plan"],
                stats=Stats(total_s=elapsed),
            )
            return Outcome(kind, empty.model_dump_json().encode(), Summary(Status.fallback, "none"))
        data = json.loads(run.fallback)
        data["warnings"] = [*data.get("warnings", []), why]
        if run.cancelled:
            data["warnings"].append(
                "cancelled: the search stopped early; this is the best plan found by then"
            )
        data.setdefault("stats", {})["total_s"] = elapsed
        if run.return_progress:
            data["progress"] = run.progress
        summary = Summary(data["status"], data["engine"], data.get("gap"))
        return Outcome(kind, json.dumps(data, separators=(",", ":")).encode(), summary)

    def _typical(self, run: Run) -> float:
        """How long a worker stays busy with the run: a high quantile of recent runs of its kind, as a
        share of their budgets (the whole budget until there are a few to go by)."""
        ratios = self._ratios.get(run.kind)
        if ratios is None or len(ratios) < MIN_OBSERVED:
            return run.time_limit_s
        ranked = sorted(ratios)
        return ranked[min(len(ranked) - 1, int(TYPICAL_QUANTILE * len(ranked)))] * run.time_limit_s

    def _observe(self, run: Run) -> None:
        if run.dispatched_at is not None:
            ratio = (time.monotonic() - run.dispatched_at) / run.time_limit_s
            self._ratios.setdefault(run.kind, deque(maxlen=OBSERVED)).append(min(ratio, 2.0))

    def _retry_after(self, now: float) -> float:
        ends = [
            w.run.deadline + self.grace_s
            for w in self._workers
            if w.state == "busy" and w.run is not None and w.run.deadline is not None
        ]
        return max(1.0, min(ends, default=now + 1.0) - now)

    def _worker_of(self, run: Run) -> _Worker | None:
        return next((w for w in self._workers if w.run is run and w.state == "busy"), None)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "WorkerPool.start() first"
        return self._loop
