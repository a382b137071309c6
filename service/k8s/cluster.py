"""What the extender knows of the cluster: nodes, pods bound to them, pods waiting to be scheduled.

Fed by the scheduler's own calls (the nodes of nodeCacheCapable=false calls, every pod it asks about)
and by the sync endpoints (PUT /k8s/nodes, PUT /k8s/pods: the bound pods are known only from there).
A pod asked about counts as pending for pending_ttl_s, or until a pods sync shows it bound.

From that state it builds the pods instance of the cluster-wide plan: every known node with the room
its bound pods leave (kube's fit is per resource, so the bound pods need not be modelled one by one),
and every pending pod with its requests, its priority's rank and, as a node-affinity term on a
per-node label, exactly the nodes Kubernetes' own rules allow it on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from service.k8s.convert import (
    PODS,
    family_units,
    fit_reasons,
    kube_units,
    placement_reasons,
    pod_requests,
    total,
)
from service.k8s.objects import Node, Pod

NODE_LABEL = "schedopt.io/node"  # every node of a plan instance carries its own name under this label
PLAN_MEMO = 32
ELIGIBLE_MEMO = 10_000


@dataclass
class KnownNode:
    node: Node
    raw: dict[str, Any]  # as received: a filter result must hand back the very object
    allocatable: dict[str, int]  # kube units

    @property
    def name(self) -> str:
        return self.node.name


@dataclass
class KnownPod:
    pod: Pod
    request: dict[str, int]  # kube units
    node: str | None
    seen: float
    order: int

    @property
    def key(self) -> str:
        return self.pod.key


class ClusterCache:
    def __init__(self, pending_ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.pending_ttl_s = pending_ttl_s
        self.clock = clock
        self.nodes: dict[str, KnownNode] = {}
        self.bound: dict[str, KnownPod] = {}
        self.pending: dict[str, KnownPod] = {}
        self._order = itertools.count()
        self._use: dict[str, tuple[dict[str, int], int]] | None = None
        self._nodes_version = 0
        self._eligible: dict[tuple[str, int], frozenset[str]] = {}
        self.plans: OrderedDict[str, dict[str, str | None]] = OrderedDict()

    # feeding

    def put_nodes(self, nodes: Iterable[tuple[Node, dict[str, Any]]], *, replace: bool = False) -> int:
        fresh = {n.name: KnownNode(n, raw, kube_units(n.allocatable())) for n, raw in nodes}
        self.nodes = fresh if replace else {**self.nodes, **fresh}
        self._nodes_changed()
        return len(fresh)

    def put_pods(self, pods: Iterable[Pod]) -> tuple[int, int]:
        """A full list of the cluster's pods: the bound ones replace what was known; unbound ones count as
        pending from now. Terminated pods hold no resources and are left out."""
        now = self.clock()
        bound: dict[str, KnownPod] = {}
        for pod in pods:
            if pod.terminated:
                continue
            if pod.spec.nodeName:
                bound[pod.key] = KnownPod(pod, kube_units(pod_requests(pod)), pod.spec.nodeName, now, 0)
                self.pending.pop(pod.key, None)
            else:
                self.saw(pod)
        self.bound = bound
        self._use = None
        return len(bound), len(self.pending)

    def saw(self, pod: Pod) -> KnownPod:
        """A pod the scheduler asks about is waiting to be placed, whatever an old sync said."""
        self.bound.pop(pod.key, None)
        self._use = None
        known = self.pending.get(pod.key)
        order = known.order if known is not None else next(self._order)
        kp = KnownPod(pod, kube_units(pod_requests(pod)), None, self.clock(), order)
        self.pending[pod.key] = kp
        return kp

    # reading

    def use(self, node: str) -> tuple[dict[str, int], int]:
        """Requests of the pods bound to the node, and how many there are."""
        if self._use is None:
            on: dict[str, list[KnownPod]] = {}
            for kp in self.bound.values():
                on.setdefault(kp.node or "", []).append(kp)
            self._use = {n: (total(p.request for p in kps), len(kps)) for n, kps in on.items()}
        return self._use.get(node, ({}, 0))

    def free(self, node: KnownNode) -> dict[str, int]:
        used, count = self.use(node.name)
        out = {r: v - used.get(r, 0) for r, v in node.allocatable.items()}
        out[PODS] = node.allocatable.get(PODS, 0) - count
        return out

    def fit_reasons(self, kp: KnownPod, node: KnownNode) -> list[str]:
        used, count = self.use(node.name)
        return fit_reasons(kp.request, node.allocatable, used, count)

    def eligible(self, kp: KnownPod) -> frozenset[str]:
        """Known nodes the pod's placement rules allow (resources aside), memoised per node set."""
        key = (
            kp.key + "\0" + json.dumps(kp.pod.spec.model_dump(mode="json"), sort_keys=True),
            self._nodes_version,
        )
        if key not in self._eligible:
            if len(self._eligible) >= ELIGIBLE_MEMO:
                self._eligible.clear()
            self._eligible[key] = frozenset(
                name for name, kn in self.nodes.items() if not placement_reasons(kp.pod, kn.node)
            )
        return self._eligible[key]

    def pending_pods(self) -> list[KnownPod]:
        cutoff = self.clock() - self.pending_ttl_s
        for key in [k for k, kp in self.pending.items() if kp.seen < cutoff]:
            del self.pending[key]
        return sorted(self.pending.values(), key=lambda kp: kp.order)

    # the cluster-wide plan

    def plan_instance(self) -> tuple[dict[str, Any], str]:
        """The pods instance (plain JSON) of the pending pods on the known nodes, and its digest."""
        pending = [kp for kp in self.pending_pods() if self.eligible(kp)]
        ranks = {p: i for i, p in enumerate(sorted({kp.pod.spec.priority or 0 for kp in pending}))}
        nodes = [
            {
                "name": name,
                "capacity": family_units({r: max(0, v) for r, v in self.free(kn).items()}, up=False),
                "labels": {NODE_LABEL: name},
            }
            for name, kn in sorted(self.nodes.items())
        ]
        pods = []
        for kp in pending:
            pod: dict[str, Any] = {
                "name": kp.key,
                "requests": {**family_units(kp.request, up=True), PODS: 1},
                "priority": ranks[kp.pod.spec.priority or 0],
            }
            allowed = self.eligible(kp)
            if len(allowed) < len(self.nodes):
                pod["node_affinity"] = [{"key": NODE_LABEL, "operator": "In", "values": sorted(allowed)}]
            pods.append(pod)
        instance = {"nodes": nodes, "pods": pods, "policy": {"allow_eviction": False, "max_moves": 0}}
        digest = hashlib.sha256(json.dumps(instance, sort_keys=True).encode()).hexdigest()
        return instance, digest

    def remember_plan(self, digest: str, placement: dict[str, str | None]) -> None:
        self.plans[digest] = placement
        self.plans.move_to_end(digest)
        while len(self.plans) > PLAN_MEMO:
            self.plans.popitem(last=False)

    def _nodes_changed(self) -> None:
        self._nodes_version += 1
        self._eligible.clear()
        self._use = None
