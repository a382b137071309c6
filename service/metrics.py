"""Prometheus metrics, one registry per app (tests build many apps in one process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from service.jobs.pool import WorkerPool

SOLVE_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
OVERRUN_SECONDS = (-1, -0.1, -0.01, 0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 1)
GAPS = (0, 0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1)

disable_created_metrics()  # the *_created series double every scrape and nobody here reads them


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "schedopt_http_requests",
            "HTTP requests by route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.solves = Counter(
            "schedopt_solves",
            "Answered solves by kind, result status, engine and mode (sync, job, k8s).",
            ["kind", "status", "engine", "mode"],
            registry=r,
        )
        self.solve_seconds = Histogram(
            "schedopt_solve_seconds",
            "From the start of the budget to the answer.",
            ["kind", "mode"],
            buckets=SOLVE_SECONDS,
            registry=r,
        )
        self.overrun_seconds = Histogram(
            "schedopt_solve_overrun_seconds",
            "Answer time minus time_limit_s (negative: early).",
            ["kind", "mode"],
            buckets=OVERRUN_SECONDS,
            registry=r,
        )
        self.gap = Histogram(
            "schedopt_solve_gap",
            "Relative gap of answered solves that have a bound.",
            ["kind"],
            buckets=GAPS,
            registry=r,
        )
        self.rejected = Counter(
            "schedopt_rejected",
            "Solves refused with 503: queue_full; budget (refused at once: would wait past its budget); "
            "expired (admitted, but no worker was free in time: the wait estimate was too low).",
            ["reason"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "schedopt_worker_restarts",
            "Workers replaced: crash, overrun (killed at the deadline), cancel_timeout.",
            ["reason"],
            registry=r,
        )
        self.queue_depth = Gauge("schedopt_queue_depth", "Solves waiting for a worker.", registry=r)
        self.workers = Gauge("schedopt_workers", "Worker processes by state.", ["state"], registry=r)

    def bind_pool(self, pool: WorkerPool) -> None:
        """Gauges read the pool when scraped, so they are never stale."""
        self.queue_depth.set_function(lambda: len(pool.queue))
        self.workers.labels("busy").set_function(lambda: pool.busy)
        self.workers.labels("idle").set_function(lambda: pool.alive - pool.busy)
        self.workers.labels("down").set_function(lambda: pool.size - pool.alive)

    def observe_solve(
        self,
        kind: str,
        mode: str,
        status: str,
        engine: str,
        gap: float | None,
        seconds: float,
        limit_s: float,
    ) -> None:
        self.solves.labels(kind, status, engine, mode).inc()
        self.solve_seconds.labels(kind, mode).observe(seconds)
        self.overrun_seconds.labels(kind, mode).observe(seconds - limit_s)
        if gap is not None:
            self.gap.labels(kind).observe(gap)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
