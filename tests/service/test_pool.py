"""The worker pool with real worker processes: what streams back, and what a lost worker costs.

Every test waits on events (a future, an incumbent, the pool becoming full again), never on sleeps.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import solver
from service.jobs.pool import WorkerPool
from service.jobs.protocol import Fault
from service.jobs.runs import Backpressure, Outcome, Run
from service.metrics import Metrics
from solver.engine import objective as lex
from tests.service.helpers import hard_request

GRACE_S = 0.03
SLACK_S = 0.05  # scheduling noise on a loaded 2-core machine, on top of the grace


def with_pool(test: Callable[[WorkerPool], Awaitable[None]], size: int = 2, **kwargs: Any) -> None:
    async def main() -> None:
        options = {"grace_s": GRACE_S, "cancel_grace_s": 1.0, "queue_max": 8, "sync_min_slice_s": 0.02}
        pool = WorkerPool(size, metrics=Metrics(), **(options | kwargs))
        await pool.start()
        try:
            await test(pool)
        finally:
            await pool.stop()

    asyncio.run(main())


def make_run(body: dict[str, Any], *, sync: bool, fault: Fault | None = None, **kwargs: Any) -> Run:
    return Run(
        kind=body["kind"],
        request=json.dumps(body).encode(),
        time_limit_s=body["options"]["time_limit_s"],
        sync=sync,
        started=time.monotonic() if sync else None,
        fault=fault,
        **kwargs,
    )


def checked(body: dict[str, Any], outcome: Outcome) -> dict[str, Any]:
    assert outcome.result is not None
    result = json.loads(outcome.result)
    report = solver.check(body["kind"], body["instance"], result["plan"])
    assert report.violations == [] and report.objective == result["objective"]
    return result


def restarts(pool: WorkerPool, reason: str) -> float:
    return pool.metrics.worker_restarts.labels(reason)._value.get()


def test_incumbents_stream_back_before_the_result() -> None:
    body = hard_request(1.0)
    points: list[dict[str, Any]] = []

    async def test(pool: WorkerPool) -> None:
        run = make_run(body, sync=False, on_incumbent=points.append)
        pool.submit(run)
        outcome = await run.future
        assert outcome.kind == "done" and run.fallback is not None  # the heuristic's plan came first
        result = checked(body, outcome)
        assert result["status"] == "feasible" and result["engine"] == "cpsat"
        assert points[0]["source"].startswith("heuristic:") and len(points) >= 2
        assert [p["t"] for p in points] == sorted(p["t"] for p in points)
        senses = result["objective_sense"]
        assert all(
            lex.better(b["objective"], a["objective"], senses)
            for a, b in zip(points, points[1:], strict=False)
        )
        assert lex.no_worse(result["objective"], points[0]["objective"], senses)  # never below the baseline

    with_pool(test)


def test_workers_ready_before_their_spawn_returns_still_fill_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loaded machine can hand a worker's Ready to the event loop before the code that spawned it
    resumes (seen in CI: the pool never became full and the service did not start). Force that order:
    start_threads returns only once the Ready is queued on the loop."""
    from service.jobs import pool as pool_module

    original = pool_module._Worker.start_threads

    def start_threads_late(self: Any, deliver: Callable[..., None]) -> None:
        queued = threading.Event()

        def deliver_then_tell(w: Any, message: Any) -> None:
            deliver(w, message)
            queued.set()

        original(self, deliver_then_tell)
        assert queued.wait(30), "the worker sent nothing"

    monkeypatch.setattr(pool_module._Worker, "start_threads", start_threads_late)

    async def test(pool: WorkerPool) -> None:
        assert pool.alive == 2
        os.kill(pool.pids()[0], signal.SIGKILL)  # a replacement goes through the same path
        await pool.wait_full(30)
        assert pool.alive == 2

    with_pool(test)


def test_a_hung_worker_is_killed_at_the_deadline_and_its_heuristic_plan_answers() -> None:
    body = hard_request(0.3)

    async def test(pool: WorkerPool) -> None:
        before = set(pool.pids())
        run = make_run(body, sync=True, fault=Fault.hang)
        pool.submit(run)
        outcome = await run.future
        assert run.started is not None
        late = time.monotonic() - (run.started + 0.3)
        assert 0 <= late <= GRACE_S + SLACK_S
        assert outcome.kind == "timeout"
        result = checked(body, outcome)
        assert (result["status"], result["engine"]) == ("fallback", "heuristic")
        assert any("did not answer within time_limit_s" in w for w in result["warnings"])
        await pool.wait_full(10)
        assert len(set(pool.pids()) - before) == 1  # one worker replaced
        assert restarts(pool, "overrun") == 1

    with_pool(test)


def test_a_solver_that_ignores_its_limit_is_stopped_at_the_deadline() -> None:
    body = hard_request(0.3)

    async def test(pool: WorkerPool) -> None:
        points: list[dict[str, Any]] = []
        run = make_run(body, sync=True, fault=Fault.ignore_limit, on_incumbent=points.append)
        pool.submit(run)
        outcome = await run.future
        assert run.started is not None
        assert time.monotonic() - (run.started + 0.3) <= GRACE_S + SLACK_S
        assert outcome.kind == "timeout" and points  # it was searching, and reporting, when stopped
        checked(body, outcome)

    with_pool(test)


def test_a_crash_costs_its_own_run_only(request_data: dict[str, Any]) -> None:
    body = hard_request(1.0)

    async def test(pool: WorkerPool) -> None:
        crashing = make_run(body, sync=False, fault=Fault.crash)
        healthy = make_run(body, sync=False)
        pool.submit(crashing)
        pool.submit(healthy)
        lost = await crashing.future
        assert lost.kind == "crash"
        result = checked(body, lost)  # the heuristic plan it had sent
        assert any("crashed" in w for w in result["warnings"])
        assert (await healthy.future).kind == "done"
        await pool.wait_full(10)
        after = make_run(request_data, sync=False)
        pool.submit(after)
        assert (await after.future).kind == "done"
        assert restarts(pool, "crash") == 1

    with_pool(test)


def test_a_crash_before_any_plan_is_an_error_not_a_result(request_data: dict[str, Any]) -> None:
    async def test(pool: WorkerPool) -> None:
        run = make_run(request_data, sync=True, fault=Fault.crash_early)
        pool.submit(run)
        outcome = await run.future
        assert outcome.kind == "crash" and outcome.result is None
        assert "crashed" in outcome.error

    with_pool(test)


def test_a_worker_killed_from_outside_mid_search() -> None:
    body = hard_request(20.0)

    async def test(pool: WorkerPool) -> None:
        searching = asyncio.Event()

        def seen(point: dict[str, Any]) -> None:
            if point["source"].startswith("cpsat"):
                searching.set()

        run = make_run(body, sync=False, on_incumbent=seen)
        pool.submit(run)
        await asyncio.wait_for(searching.wait(), 20)
        pid = pool.pid_of(run)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        outcome = await run.future
        assert time.monotonic() - t0 < 1.0  # not at the end of the 20 s budget
        assert outcome.kind == "crash"
        checked(body, outcome)
        await pool.wait_full(10)
        assert pid not in pool.pids()

    with_pool(test)


def test_cancel_stops_the_search_now_and_keeps_its_best_plan() -> None:
    body = hard_request(30.0)

    async def test(pool: WorkerPool) -> None:
        improved = asyncio.Event()
        points: list[dict[str, Any]] = []

        def seen(point: dict[str, Any]) -> None:
            points.append(point)
            if point["source"].startswith("cpsat"):
                improved.set()

        run = make_run(body, sync=False, on_incumbent=seen)
        pool.submit(run)
        await asyncio.wait_for(improved.wait(), 20)
        t0 = time.monotonic()
        pool.cancel(run)
        outcome = await run.future
        assert time.monotonic() - t0 < 0.5
        assert outcome.kind == "done"  # the solver itself handed back its best plan
        result = checked(body, outcome)
        assert any("cancelled" in w for w in result["warnings"])
        # The plan is the solver's best *checked* plan. (Known solver defect, reported: a cancel that
        # lands while an LNS step builds its model returns the heuristic's plan, not the LNS incumbent
        # already reported as progress; so "engine == cpsat" cannot be asserted here yet.)
        assert lex.no_worse(result["objective"], points[0]["objective"], result["objective_sense"])

    with_pool(test)


def test_cancel_of_a_queued_run_takes_it_out_of_the_queue(request_data: dict[str, Any]) -> None:
    async def test(pool: WorkerPool) -> None:
        blocker = make_run(hard_request(5.0), sync=False, fault=Fault.hang)
        queued = make_run(request_data, sync=False)
        pool.submit(blocker)
        pool.submit(queued)
        assert len(pool.queue) == 1
        pool.cancel(queued)
        assert (await queued.future).kind == "cancelled" and len(pool.queue) == 0
        pool.cancel(blocker)  # deaf to cancel: killed after cancel_grace_s
        outcome = await blocker.future
        assert outcome.kind == "timeout" and restarts(pool, "cancel_timeout") == 1

    with_pool(test, size=1, cancel_grace_s=0.2)


def test_synchronous_solves_that_would_wait_past_their_budget_are_refused_at_once(
    request_data: dict[str, Any],
) -> None:
    async def test(pool: WorkerPool) -> None:
        blocker = make_run(hard_request(5.0), sync=False, fault=Fault.hang)
        pool.submit(blocker)
        t0 = time.monotonic()
        with pytest.raises(Backpressure) as refused:
            pool.submit(make_run(request_data, sync=True))
        assert time.monotonic() - t0 < 0.01
        assert refused.value.reason == "budget" and refused.value.retry_after_s >= 1
        pool.submit(make_run(request_data, sync=False))  # a job may wait: it is queued
        with pytest.raises(Backpressure) as full:
            pool.submit(make_run(request_data, sync=False))
        assert full.value.reason == "queue_full"
        pool.cancel(blocker)

    with_pool(test, size=1, queue_max=1, cancel_grace_s=0.1)


def test_the_wait_estimate_learns_that_small_solves_end_early(request_data: dict[str, Any]) -> None:
    """Budgets are upper bounds: after a few quick answers a busy pool still admits synchronous solves
    whose budget covers the typical wait, and they are answered within it."""

    async def test(pool: WorkerPool) -> None:
        request_data["options"]["time_limit_s"] = 1.0
        for _ in range(12):
            run = make_run(request_data, sync=False)
            pool.submit(run)
            await run.future
        busy = make_run(request_data, sync=True)
        waiting = make_run(request_data, sync=True)
        pool.submit(busy)
        assert pool.expected_wait(time.monotonic()) < 0.5
        pool.submit(waiting)  # would be refused if every budget were assumed spent in full
        for run in (busy, waiting):
            outcome = await run.future
            assert outcome.kind == "done" and run.started is not None
            assert time.monotonic() - run.started < 1.0

    with_pool(test, size=1)
