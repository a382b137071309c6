"""Kubernetes placement rules on v1 objects, as kube-scheduler applies them, and the pods family's units.

- A pod's requests follow k8s.io/component-helpers resource.PodRequests: app containers summed; init
  containers run one at a time, so the pod needs the largest of them (each plus the sidecars started
  before it: init containers with restartPolicy Always, which keep running and add to the app
  containers); then the pod overhead. A container with limits but no requests requests its limits
  (the API server's defaulting).
- Filters: NodeUnschedulable, NodeAffinity (nodeSelector and required node affinity), TaintToleration
  (NoSchedule and NoExecute), NodeResourcesFit (pod count, then every requested resource).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from fractions import Fraction

from service.k8s.objects import (
    Container,
    Node,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    Pod,
    Taint,
    Toleration,
)
from service.k8s.quantities import format_milli, milli, whole

CPU, MEMORY, PODS = "cpu", "memory", "pods"
BYTES = ("memory", "ephemeral-storage")  # and hugepages-*
UNSCHEDULABLE_TAINT = Taint(key="node.kubernetes.io/unschedulable", effect="NoSchedule")
MIB = 2**20
KUBE_ORDER = {"cpu": 0, "memory": 1, "ephemeral-storage": 2}  # NodeResourcesFit's order; the rest by name

# kube resource -> pods family resource; anything else keeps its Kubernetes name
FAMILY_NAMES = {
    "cpu": "cpu_m",
    "memory": "memory_mib",
    "ephemeral-storage": "ephemeral_storage_mib",
    "nvidia.com/gpu": "gpu",
    "pods": "pods",
}


def _add(total: dict[str, Fraction], more: Mapping[str, Fraction]) -> None:
    for name, q in more.items():
        total[name] = total.get(name, Fraction(0)) + q


def _max(total: dict[str, Fraction], other: Mapping[str, Fraction]) -> None:
    for name, q in other.items():
        if q > total.get(name, Fraction(0)):
            total[name] = q


def pod_requests(pod: Pod) -> dict[str, Fraction]:
    """What the scheduler reserves for the pod, by resource (exact quantities)."""

    def requested(c: Container) -> dict[str, Fraction]:
        return {**c.resources.limits, **c.resources.requests}

    total: dict[str, Fraction] = {}
    for c in pod.spec.containers:
        _add(total, requested(c))
    sidecars: dict[str, Fraction] = {}
    init_peak: dict[str, Fraction] = {}
    for c in pod.spec.initContainers:
        own = requested(c)
        if c.restartPolicy == "Always":  # a sidecar: runs beside the app containers from now on
            _add(total, own)
            _add(sidecars, own)
            during = dict(sidecars)
        else:
            during = dict(own)
            _add(during, sidecars)
        _max(init_peak, during)
    _max(total, init_peak)
    _add(total, pod.spec.overhead)
    return total


def kube_units(resources: Mapping[str, Fraction]) -> dict[str, int]:
    """The scheduler's integers: CPU in millicores, everything else whole units; rounded up."""
    return {name: milli(q) if name == CPU else whole(q) for name, q in resources.items()}


def family_units(kube: Mapping[str, int], *, up: bool) -> dict[str, int]:
    """The pods family's resources: bytes become MiB, rounded up for requests and down for capacity, so a
    plan that fits in MiB fits in bytes too."""
    out: dict[str, int] = {}
    for name, value in kube.items():
        if name in BYTES or name.startswith("hugepages-"):
            family = FAMILY_NAMES.get(name, f"{name}_mib")
            out[family] = -(-value // MIB) if up else value // MIB
        else:
            out[FAMILY_NAMES.get(name, name)] = value
    return out


# filters


def tolerates(t: Toleration, taint: Taint) -> bool:
    """v1 Toleration.ToleratesTaint."""
    if t.effect and t.effect != taint.effect:
        return False
    if t.key and t.key != taint.key:
        return False
    if t.operator == "Exists":
        return True
    if t.operator in ("", "Equal"):
        return t.value == taint.value
    return False


def _requirement(req: NodeSelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = req.key in labels
    value = labels.get(req.key, "")
    op = req.operator
    if op == "In":
        return present and value in req.values
    if op == "NotIn":
        return not present or value not in req.values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(req.values) != 1:
            return False
        try:
            have, bound = int(value), int(req.values[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def _term(term: NodeSelectorTerm, node: Node) -> bool:
    if not term.matchExpressions and not term.matchFields:
        return False  # an empty term matches no node
    fields = {"metadata.name": node.name}
    return all(_requirement(r, node.metadata.labels) for r in term.matchExpressions) and all(
        r.key in fields and _requirement(r, fields) for r in term.matchFields
    )


def matches_node_affinity(pod: Pod, node: Node) -> bool:
    """nodeSelector (every label equal) and required node affinity (any term, all its requirements)."""
    labels = node.metadata.labels
    if any(labels.get(k) != v for k, v in pod.spec.nodeSelector.items()):
        return False
    affinity = pod.spec.affinity
    required = (
        affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        if (affinity and affinity.nodeAffinity)
        else None
    )
    if required is None:
        return True
    return any(_term(t, node) for t in required.nodeSelectorTerms)


def placement_reasons(pod: Pod, node: Node) -> list[str]:
    """Why the pod may never go on the node whatever runs there (kube: UnschedulableAndUnresolvable)."""
    reasons = []
    if node.spec.unschedulable and not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in pod.spec.tolerations):
        reasons.append("node(s) were unschedulable")
    if not matches_node_affinity(pod, node):
        reasons.append("node(s) didn't match Pod's node affinity/selector")
    for taint in node.spec.taints:
        if taint.effect in ("NoSchedule", "NoExecute") and not any(
            tolerates(t, taint) for t in pod.spec.tolerations
        ):
            reasons.append(f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}")
            break
    return reasons


def fit_reasons(
    request: Mapping[str, int], allocatable: Mapping[str, int], used: Mapping[str, int], pods_on_node: int
) -> list[str]:
    """NodeResourcesFit: why the node lacks room now (kube: Unschedulable; preemption could help)."""
    reasons = []
    allowed = allocatable.get(PODS, 0)
    if pods_on_node + 1 > allowed:
        reasons.append(f"Too many pods ({pods_on_node} of {allowed})")
    for name in sorted(request, key=lambda n: (KUBE_ORDER.get(n, len(KUBE_ORDER)), n)):
        need = request[name]
        if name == PODS or need <= 0:
            continue
        free = allocatable.get(name, 0) - used.get(name, 0)
        if need > free:
            reasons.append(
                f"Insufficient {name} (requests {_show(name, need)}, free {_show(name, max(free, 0))} "
                f"of {_show(name, allocatable.get(name, 0))})"
            )
    return reasons


def _show(name: str, value: int) -> str:
    if name == CPU:
        return format_milli(value)
    if name in BYTES and value % MIB == 0:
        return f"{value // MIB}Mi"
    return str(value)


def total(requests: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in requests:
        for name, v in r.items():
            out[name] = out.get(name, 0) + v
    return out


def utilisation(request: Mapping[str, int], allocatable: Mapping[str, int], free: Mapping[str, int]) -> float:
    """Mean share of the node's requested resources in use once the pod is placed (0..1)."""
    shares = [
        (allocatable[n] - free.get(n, 0) + v) / allocatable[n]
        for n, v in request.items()
        if n != PODS and v > 0 and allocatable.get(n, 0) > 0
    ]
    return min(1.0, max(0.0, math.fsum(shares) / len(shares))) if shares else 0.0
