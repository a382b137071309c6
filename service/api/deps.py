"""Dependencies the routes share: settings, arrival time, the service's parts, the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from service.api.middleware import ARRIVED, CLIENT
from service.jobs.manager import JobManager
from service.jobs.pool import WorkerPool
from service.jobs.protocol import Fault
from service.k8s.cluster import ClusterCache
from service.metrics import Metrics
from service.settings import Settings

FAULT_HEADER = "X-Schedopt-Fault"


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def arrival(request: Request) -> float:
    """The request's arrival (time.monotonic()), stamped by ArrivalMiddleware before the body was read."""
    return getattr(request.state, ARRIVED)


def pool(request: Request) -> WorkerPool:
    return request.app.state.pool


def manager(request: Request) -> JobManager:
    return request.app.state.manager


def metrics(request: Request) -> Metrics:
    return request.app.state.metrics


def cluster(request: Request) -> ClusterCache:
    return request.app.state.cluster


def client(request: Request) -> str:
    """Which API key called: idempotency keys are scoped by it."""
    return getattr(request.state, CLIENT, "anonymous")


def fault(
    request: Request,
    value: Annotated[str | None, Header(alias=FAULT_HEADER, include_in_schema=False)] = None,
) -> Fault | None:
    """Tests only: with SCHEDOPT_TEST_FAULTS=1, the header makes the worker misbehave."""
    if value is None or not request.app.state.settings.test_faults:
        return None
    try:
        return Fault(value)
    except ValueError:
        raise HTTPException(422, f"{FAULT_HEADER}: one of {', '.join(f.value for f in Fault)}") from None


AppSettings = Annotated[Settings, Depends(app_settings)]
Arrival = Annotated[float, Depends(arrival)]
Pool = Annotated[WorkerPool, Depends(pool)]
Manager = Annotated[JobManager, Depends(manager)]
AppMetrics = Annotated[Metrics, Depends(metrics)]
Cluster = Annotated[ClusterCache, Depends(cluster)]
Client = Annotated[str, Depends(client)]
InjectedFault = Annotated[Fault | None, Depends(fault)]
