"""Jobs: accepted into the store first, then run on the pool; every step written down as it happens.

A job is in the store before its 202 is sent, so nothing accepted is lost: on start, this replica
puts the jobs it left queued or running back in the queue. Incumbents are written in batches by the
single store-writer thread, in order, and each write wakes the event streams of that job.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from anyio import to_thread

from models.request import SolveRequest
from service.jobs.pool import WorkerPool
from service.jobs.protocol import Fault
from service.jobs.runs import Outcome, Run
from service.jobs.store import JobRow, JobStatus, JobStore, NewJob
from service.metrics import Metrics

log = logging.getLogger("schedopt.jobs")
T = TypeVar("T")


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was used before with a different body."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request body (job {job_id}); "
            "send the same body to get that job back, or use a new key for a new request"
        )
        self.job_id = job_id


@dataclass(eq=False)
class _Active:
    """A job of this replica that is queued or running."""

    run: Run
    seq: int = 0
    pending: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    draining: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class JobManager:
    def __init__(
        self,
        store: JobStore,
        pool: WorkerPool,
        metrics: Metrics,
        *,
        owner: str,
        retention_s: float,
        prune_interval_s: float,
    ) -> None:
        self.store = store
        self.pool = pool
        self.metrics = metrics
        self.owner = owner
        self.retention_s = retention_s
        self.prune_interval_s = prune_interval_s
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="schedopt-store")
        self._active: dict[str, _Active] = {}
        # held by the event streams waiting on a job; gone with the last of them
        self._changed: weakref.WeakValueDictionary[str, asyncio.Event] = weakref.WeakValueDictionary()
        self._followers: set[asyncio.Task[None]] = set()
        self._pruner: asyncio.Task[None] | None = None

    # lifecycle

    async def start(self) -> None:
        await self._write(self.store.setup)
        recovered = await self._write(self.store.requeue_unfinished, self.owner)
        for row in recovered:
            assert row.request is not None
            options = json.loads(row.request).get("options", {})
            self._enqueue(row, bool(options.get("return_progress")), force=True)
        if recovered:
            log.info(
                "re-running %d unfinished jobs", len(recovered), extra={"jobs": [r.id for r in recovered]}
            )
        self._pruner = asyncio.create_task(self._prune_forever())

    async def stop(self) -> None:
        """After the pool stopped: followers of cancelled runs end without touching their jobs."""
        if self._pruner is not None:
            self._pruner.cancel()
        await asyncio.gather(*self._followers, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, partial(self._writer.shutdown, wait=True))

    # the API's operations

    async def submit(
        self, request: SolveRequest, *, key: str | None, client: str, fault: Fault | None = None
    ) -> tuple[JobRow, bool]:
        """The new job and True, or, for a repeated Idempotency-Key and body, the first job and False."""
        body = request.model_dump_json().encode()
        digest = hashlib.sha256(body).hexdigest()
        scope = hashlib.sha256(f"{client}\0{key}".encode()).hexdigest() if key is not None else None
        if self.pool.queue.full:  # checked before writing: a refused job leaves no trace
            existing = await self._replay(scope, digest, key) if scope else None
            if existing is not None:
                return existing, False
            self.pool.check_room()
        job = NewJob(
            id=uuid.uuid4().hex,
            kind=request.kind,
            owner=self.owner,
            request=body,
            request_hash=digest,
            time_limit_s=request.options.time_limit_s,
            idempotency=scope,
        )
        row, created = await self._write(self.store.create, job)
        if not created:
            if row.request_hash != digest:
                raise IdempotencyMismatch(key or "", row.id)
            return row, False
        self._enqueue(row, request.options.return_progress, body=body, fault=fault)
        return row, True

    async def get(self, job_id: str, *, with_result: bool = False) -> JobRow | None:
        return await self._read(partial(self.store.get, job_id, with_result=with_result))

    async def page(
        self, *, status: str | None, kind: str | None, limit: int, cursor: str | None
    ) -> tuple[list[JobRow], str | None]:
        return await self._read(
            partial(self.store.page, status=status, kind=kind, limit=limit, cursor=cursor)
        )

    async def events(self, job_id: str, after: int) -> list[tuple[int, str]]:
        return await self._read(partial(self.store.events, job_id, after))

    async def cancel(self, job_id: str) -> JobRow | None:
        """Stop a job now and wait until its best plan is stored; a finished job is returned as it is."""
        active = self._active.get(job_id)
        if active is not None:
            self.pool.cancel(active.run)
            await active.done.wait()
        return await self.get(job_id, with_result=True)

    def changed(self, job_id: str) -> asyncio.Event:
        """Set at the next write about this job (an incumbent, a status). Take it before reading."""
        event = self._changed.get(job_id)
        if event is None:
            event = self._changed[job_id] = asyncio.Event()
        return event

    async def ping(self) -> None:
        await self._write(self.store.ping)

    async def prune(self, now: float | None = None) -> int:
        return await self._write(self.store.prune, (now or time.time()) - self.retention_s)

    # running a job

    def _enqueue(
        self,
        row: JobRow,
        return_progress: bool,
        *,
        body: bytes | None = None,
        fault: Fault | None = None,
        force: bool = False,
    ) -> None:
        request = body if body is not None else row.request
        assert request is not None
        run = Run(
            kind=row.kind,
            request=request,
            time_limit_s=row.time_limit_s,
            sync=False,
            return_progress=return_progress,
            fault=fault,
        )
        active = _Active(run)
        run.on_start = partial(self._started, row.id)
        run.on_incumbent = partial(self._incumbent, row.id, active)
        self._active[row.id] = active
        self.pool.submit(run, force=True)  # room was checked before the job was written
        follower = asyncio.create_task(self._follow(row.id, active))
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)

    def _started(self, job_id: str) -> None:
        self._background(self.store.mark_running, job_id, then=job_id)

    def _incumbent(self, job_id: str, active: _Active, point: dict[str, Any]) -> None:
        with active.lock:
            active.seq += 1
            active.pending.append((active.seq, json.dumps(point)))
            start = not active.draining
            active.draining = True
        if start:
            self._background(self._drain, job_id, active, then=job_id)

    def _drain(self, job_id: str, active: _Active) -> None:
        """On the writer thread: everything pending in one transaction."""
        with active.lock:
            batch, active.pending, active.draining = active.pending, [], False
        self.store.add_events(job_id, batch)

    async def _follow(self, job_id: str, active: _Active) -> None:
        run = active.run
        try:
            outcome = await run.future
        except asyncio.CancelledError:  # the service is stopping: the job stays unfinished, to run again
            return
        try:
            status, result, result_status, error = _conclusion(outcome, run.cancelled)
            await self._write(self.store.finish, job_id, status, result, result_status, error)
            if outcome.summary is not None and run.started is not None:
                self.metrics.observe_solve(
                    run.kind,
                    "job",
                    outcome.summary.status,
                    outcome.summary.engine,
                    outcome.summary.gap,
                    time.monotonic() - run.started,
                    run.time_limit_s,
                )
            log.info("job %s %s", job_id, status, extra={"job": job_id, "outcome": outcome.kind})
        finally:
            self._active.pop(job_id, None)
            active.done.set()
            self._notify(job_id)

    # plumbing

    def _notify(self, job_id: str) -> None:
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    def _background(self, fn: Callable[..., Any], *args: Any, then: str) -> None:
        future = asyncio.get_running_loop().run_in_executor(self._writer, partial(fn, *args))
        future.add_done_callback(lambda f: self._written(f, then))

    def _written(self, future: asyncio.Future[Any], job_id: str) -> None:
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("store write failed for job %s: %s", job_id, exc)
        self._notify(job_id)

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, partial(fn, *args))

    async def _read(self, fn: Callable[[], T]) -> T:
        return await to_thread.run_sync(fn)

    async def _replay(self, scope: str, digest: str, key: str | None) -> JobRow | None:
        row = await self._read(partial(self.store.find_idempotent, scope))
        if row is not None and row.request_hash != digest:
            raise IdempotencyMismatch(key or "", row.id)
        return row

    async def _prune_forever(self) -> None:
        while True:
            try:
                if removed := await self.prune():
                    log.info("pruned %d finished jobs", removed)
            except Exception as exc:  # a store hiccup must not end pruning for good
                log.error("pruning failed: %s", exc)
            await asyncio.sleep(self.prune_interval_s)


def _conclusion(outcome: Outcome, cancelled: bool) -> tuple[JobStatus, bytes | None, str | None, str | None]:
    """(job status, result, result status, error) of a finished run."""
    if outcome.kind == "invalid":
        return JobStatus.failed, None, None, json.dumps({"detail": outcome.errors})
    if outcome.result is not None:
        status = JobStatus.cancelled if cancelled else JobStatus.succeeded
        return status, outcome.result, outcome.summary.status if outcome.summary else None, None
    if outcome.kind == "cancelled" or cancelled:
        return JobStatus.cancelled, None, None, None
    return JobStatus.failed, None, None, json.dumps({"detail": outcome.error or outcome.kind})
