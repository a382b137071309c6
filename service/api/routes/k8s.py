"""The kube-scheduler extender (k8s.io/kube-scheduler/extender/v1), plus the cluster-state sync.

kube-scheduler POSTs ExtenderArgs to <urlPrefix>/<verb>: with nodeCacheCapable false it sends whole
v1.Node objects (and expects them back in the filter result), with true only their names. Bodies are
parsed off the event loop: a NodeList of thousands of nodes takes a while, and the loop keeps the
deadlines of every solve in flight.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from models.pods import PodsRequest
from service.api.deps import AppMetrics, AppSettings, Arrival, Cluster, Pool
from service.api.limits import InstanceTooLarge, limit_for
from service.api.solving import ClientGone, solve_sync
from service.jobs.runs import Backpressure
from service.k8s.cluster import ClusterCache
from service.k8s.extender import NoCandidates, candidates, filter_nodes, scores
from service.k8s.objects import ExtenderArgs, ExtenderFilterResult, HostPriority, NodeList, PodList
from service.settings import Settings

router = APIRouter(prefix="/k8s", tags=["kubernetes"])
log = logging.getLogger("schedopt.k8s")
M = TypeVar("M", bound=BaseModel)

ARGS_DOC = (
    'extender/v1 ExtenderArgs: {"Pod": v1.Pod, "Nodes": v1.NodeList | null, "NodeNames": [string] | null}, '
    "exactly as kube-scheduler sends it."
)
ARGS_EXAMPLE = {
    "Pod": {
        "metadata": {"name": "web-0", "namespace": "default"},
        "spec": {
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]
        },
    },
    "Nodes": None,
    "NodeNames": ["node-a", "node-b"],
}


ARGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": ARGS_DOC,
    "required": ["Pod"],
    "properties": {
        "Pod": {"type": "object", "description": "v1.Pod"},
        "Nodes": {"type": ["object", "null"], "description": "v1.NodeList (nodeCacheCapable: false)"},
        "NodeNames": {
            "type": ["array", "null"],
            "items": {"type": "string"},
            "description": "nodeCacheCapable: true",
        },
    },
}
LIST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A v1 list (kubectl get ... -o json): every object of the cluster in `items`.",
    "properties": {"items": {"type": "array", "items": {"type": "object"}}},
}


def _body(schema: dict[str, Any], example: Any) -> dict[str, Any]:
    """Documents a body the route parses itself (off the event loop)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema, "example": example}},
        }
    }


class ClusterSummary(BaseModel):
    nodes: int
    bound_pods: int
    pending_pods: int


async def _parse(request: Request, model: type[M]) -> tuple[M, dict[str, Any]]:
    """The body as `model` and as plain JSON; errors are 422s with the JSON path, like everywhere."""
    body = await request.body()

    def parse() -> tuple[M, dict[str, Any]]:
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise RequestValidationError(
                [{"type": "json_invalid", "loc": ("body",), "msg": f"not valid JSON: {exc}"}]
            ) from None
        if not isinstance(raw, dict):
            raise RequestValidationError(
                [{"type": "model_type", "loc": ("body",), "msg": "expected a JSON object"}]
            )
        try:
            return model.model_validate(raw), raw
        except ValidationError as exc:
            errors = [
                {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
            raise RequestValidationError(errors) from None

    return await run_in_threadpool(parse)


def _check_nodes(count: int, settings: Settings, loc: tuple[str, ...]) -> None:
    limit, setting = limit_for(settings, "pods", "nodes")
    if count > limit:
        msg = f"{count} nodes: the limit is {limit} ({setting})"
        raise InstanceTooLarge([{"type": "too_large", "loc": list(loc), "msg": msg, "ctx": {"limit": limit}}])


@router.post("/filter", response_model=ExtenderFilterResult, openapi_extra=_body(ARGS_SCHEMA, ARGS_EXAMPLE))
async def filter_(
    request: Request,
    cache: Cluster,
    settings: AppSettings,
) -> ExtenderFilterResult:
    """Nodes where Kubernetes' rules let the pod run now; the others with the reason, in
    FailedAndUnresolvableNodes when no eviction could change it (taints, affinity, unschedulable)."""
    args, raw = await _parse(request, ExtenderArgs)
    _check_nodes(
        len(args.nodes.items) if args.nodes else len(args.node_names or []), settings, ("body", "Nodes")
    )
    try:
        return filter_nodes(args, raw, cache)
    except NoCandidates as exc:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": str(exc)}]) from None


@router.post("/prioritize", response_model=list[HostPriority], openapi_extra=_body(ARGS_SCHEMA, ARGS_EXAMPLE))
async def prioritize(
    request: Request,
    started: Arrival,
    cache: Cluster,
    pool: Pool,
    metrics: AppMetrics,
    settings: AppSettings,
) -> list[HostPriority]:
    """Scores 0..10: 10 for the node where the pods family's cluster-wide plan (all pending pods on all
    known nodes, solved within SCHEDOPT_K8S_TIME_LIMIT_S) puts this pod; see the extender docs."""
    args, raw = await _parse(request, ExtenderArgs)
    _check_nodes(
        len(args.nodes.items) if args.nodes else len(args.node_names or []), settings, ("body", "Nodes")
    )
    try:
        nodes, _unknown = candidates(args, raw, cache)
    except NoCandidates as exc:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": str(exc)}]) from None
    pod = cache.saw(args.pod)
    placement = await _plan(request, pool, metrics, settings, cache, started)
    return scores(pod, nodes, cache, placement)


@router.put("/nodes", response_model=ClusterSummary, openapi_extra=_body(LIST_SCHEMA, {"items": []}))
async def sync_nodes(
    request: Request,
    cache: Cluster,
    settings: AppSettings,
) -> ClusterSummary:
    """Replace the known nodes (for nodeCacheCapable: true), e.g. from `kubectl get nodes -o json`."""
    nodes, raw = await _parse(request, NodeList)
    _check_nodes(len(nodes.items), settings, ("body", "items"))
    cache.put_nodes(zip(nodes.items, raw.get("items") or [], strict=True), replace=True)
    return _summary(cache)


@router.put("/pods", response_model=ClusterSummary, openapi_extra=_body(LIST_SCHEMA, {"items": []}))
async def sync_pods(
    request: Request,
    cache: Cluster,
    settings: AppSettings,
) -> ClusterSummary:
    """Replace the known bound pods (spec.nodeName set, not terminated), e.g. from
    `kubectl get pods -A -o json`; unbound ones count as pending."""
    pods, _raw = await _parse(request, PodList)
    limit, setting = limit_for(settings, "pods", "pods")
    if len(pods.items) > limit:
        msg = f"{len(pods.items)} pods: the limit is {limit} ({setting})"
        raise InstanceTooLarge(
            [{"type": "too_large", "loc": ["body", "items"], "msg": msg, "ctx": {"limit": limit}}]
        )
    cache.put_pods(pods.items)
    return _summary(cache)


@router.get("/cluster", response_model=ClusterSummary)
def cluster_summary(cache: Cluster) -> ClusterSummary:
    """What the extender knows."""
    return _summary(cache)


def _summary(cache: ClusterCache) -> ClusterSummary:
    return ClusterSummary(
        nodes=len(cache.nodes), bound_pods=len(cache.bound), pending_pods=len(cache.pending_pods())
    )


async def _plan(
    request: Request, pool: Pool, metrics: AppMetrics, settings: Settings, cache: ClusterCache, started: float
) -> dict[str, str | None] | None:
    """pod key -> node of the cluster-wide plan (memoised per cluster state); None when there is none in
    time: the scores then fall back to packing alone."""
    instance, digest = cache.plan_instance()
    if digest in cache.plans:
        return cache.plans[digest]
    if not instance["pods"]:
        return None
    body = {
        "kind": "pods",
        "instance": instance,
        "options": {"time_limit_s": settings.k8s_time_limit_s, "workers": 1},
    }
    try:
        solve_request = await run_in_threadpool(PodsRequest.model_validate, body)
        outcome = await solve_sync(request, pool, metrics, solve_request, started=started, mode="k8s")
    except (Backpressure, ClientGone, ValidationError) as exc:
        log.warning("no cluster-wide plan: %s", exc)
        return None
    if outcome.result is None:
        log.warning("no cluster-wide plan: %s %s", outcome.kind, outcome.error or outcome.errors)
        return None
    t0 = time.perf_counter()
    plan = json.loads(outcome.result).get("plan") or {}
    placement = {a["pod"]: a.get("node") for a in plan.get("assignments", [])}
    cache.remember_plan(digest, placement)
    log.debug("plan of %d pods read in %.1f ms", len(placement), 1000 * (time.perf_counter() - t0))
    return placement
