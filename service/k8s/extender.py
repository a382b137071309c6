"""The extender's two verbs on top of the cluster cache: filter (Kubernetes' rules, no solve) and the
scores of prioritize (from the cluster-wide plan, computed by the caller on the worker pool).

Scores, 0..10 (extender/v1 MaxExtenderPriority):
- 10: the node the plan puts the pod on;
- 1..9: another node where the pod fits beside everything the plan puts there, fuller nodes first
  (packing keeps room for the pods still to come, which is what the plan is about);
- 0: a node where the pod would take room the plan gives to other pending pods, or where it cannot go.
"""

from __future__ import annotations

from typing import Any

from service.k8s.cluster import ClusterCache, KnownNode, KnownPod
from service.k8s.convert import PODS, fit_reasons, placement_reasons, utilisation
from service.k8s.objects import ExtenderArgs, ExtenderFilterResult, HostPriority

UNKNOWN_NODE = (
    "unknown to the schedopt extender: sync nodes with PUT /k8s/nodes, or set nodeCacheCapable: false"
)
MAX_SCORE = 10


class NoCandidates(ValueError):
    """ExtenderArgs with neither Nodes nor NodeNames."""


def candidates(
    args: ExtenderArgs, raw: dict[str, Any], cache: ClusterCache
) -> tuple[list[KnownNode], dict[str, str]]:
    """The nodes the scheduler asks about (remembering full nodes it sends), and those it names that are
    unknown here."""
    if args.nodes is not None:
        raw_items = _field(raw, "Nodes").get("items") or []
        cache.put_nodes(zip(args.nodes.items, raw_items, strict=True))
        return [cache.nodes[n.name] for n in args.nodes.items], {}
    if args.node_names is not None:
        known = [cache.nodes[n] for n in args.node_names if n in cache.nodes]
        return known, {n: UNKNOWN_NODE for n in args.node_names if n not in cache.nodes}
    raise NoCandidates("ExtenderArgs needs Nodes (nodeCacheCapable: false) or NodeNames (true)")


def filter_nodes(args: ExtenderArgs, raw: dict[str, Any], cache: ClusterCache) -> ExtenderFilterResult:
    nodes, unknown = candidates(args, raw, cache)
    pod = cache.saw(args.pod)
    passed: list[KnownNode] = []
    failed: dict[str, str] = dict(unknown)
    unresolvable: dict[str, str] = {}
    for kn in nodes:
        never = placement_reasons(pod.pod, kn.node)
        now = cache.fit_reasons(pod, kn)
        if never:
            unresolvable[kn.name] = "; ".join(never + now)
        elif now:
            failed[kn.name] = "; ".join(now)
        else:
            passed.append(kn)
    result = ExtenderFilterResult(FailedNodes=failed, FailedAndUnresolvableNodes=unresolvable)
    if args.nodes is not None:
        result.Nodes = {"metadata": {}, "items": [kn.raw for kn in passed]}
    else:
        result.NodeNames = [kn.name for kn in passed]
    return result


def scores(
    pod: KnownPod, nodes: list[KnownNode], cache: ClusterCache, placement: dict[str, str | None] | None
) -> list[HostPriority]:
    """placement: pod key -> node of the cluster-wide plan (None when there is no plan)."""
    placement = placement or {}
    target = placement.get(pod.key)
    planned: dict[str, dict[str, int]] = {}  # room the plan gives to the other pending pods, by node
    for other in cache.pending.values():
        node = placement.get(other.key)
        if other.key != pod.key and node is not None:
            room = planned.setdefault(node, {})
            for r, v in {**other.request, PODS: 1}.items():
                room[r] = room.get(r, 0) + v
    out = []
    for kn in nodes:
        if placement_reasons(pod.pod, kn.node) or cache.fit_reasons(pod, kn):
            score = 0
        elif kn.name == target:
            score = MAX_SCORE
        else:
            free = cache.free(kn)
            after = {r: v - planned.get(kn.name, {}).get(r, 0) for r, v in free.items()}
            used = {r: kn.allocatable.get(r, 0) - v for r, v in after.items()}
            fits = not fit_reasons(
                pod.request, kn.allocatable, used, kn.allocatable.get(PODS, 0) - after[PODS]
            )
            score = 1 + round(8 * utilisation(pod.request, kn.allocatable, after)) if fits else 0
        out.append(HostPriority(Host=kn.name, Score=score))
    return out


def _field(raw: dict[str, Any], name: str) -> dict[str, Any]:
    """A top-level field of raw ExtenderArgs, matched case-insensitively like Go's decoder (and like
    ExtenderArgs: when two spellings are sent, the last one counts)."""
    found: dict[str, Any] = {}
    for key, value in raw.items():
        if key.lower() == name.lower():
            found = value if isinstance(value, dict) else {}
    return found
