"""Static placement rules, shared by the heuristics and the formulations (not by the checker).

A rule here depends only on a pod's spec and a node's labels, taints and flags, never on what else
runs on the node; the answer is computed once per distinct spec as a boolean mask over nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.pods import AffinityTerm, Node, Pod, Taint, Toleration

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(tolerations: Sequence[Toleration], taint: Taint) -> bool:
    for tol in tolerations:
        if tol.effect is not None and tol.effect != taint.effect:
            continue
        if tol.operator == "Exists":
            if tol.key == "" or tol.key == taint.key:
                return True
        elif tol.key == taint.key and tol.value == taint.value:
            return True
    return False


def untolerated(pod: Pod, node: Node, effects: Sequence[str] = BLOCKING_EFFECTS) -> list[Taint]:
    return [t for t in node.taints if t.effect in effects and not tolerates(pod.tolerations, t)]


def affinity_holds(term: AffinityTerm, labels: dict[str, str]) -> bool:
    present = term.key in labels
    if term.operator == "In":
        return present and labels[term.key] in term.values
    if term.operator == "NotIn":
        return not present or labels[term.key] not in term.values
    if term.operator == "Exists":
        return present
    return not present  # DoesNotExist


def static_reasons(pod: Pod, node: Node) -> list[str]:
    """Why a new pod may not be placed on the node regardless of load: [] when it may."""
    reasons = []
    if node.unschedulable:
        reasons.append("unschedulable")
    if untolerated(pod, node):
        reasons.append("taints")
    if any(node.labels.get(k) != v for k, v in pod.node_selector.items()):
        reasons.append("node_selector")
    if not all(affinity_holds(t, node.labels) for t in pod.node_affinity):
        reasons.append("node_affinity")
    return reasons


def spec_key(pod: Pod) -> tuple:
    """Everything the static rules look at, so equal keys share one mask."""
    return (
        tuple(sorted(pod.node_selector.items())),
        tuple((t.key, t.operator, tuple(t.values)) for t in pod.node_affinity),
        tuple((t.key, t.operator, t.value, t.effect) for t in pod.tolerations),
    )


class StaticRules:
    """Boolean masks over nodes for new placements, cached by the pod's rule key and by pod index."""

    def __init__(self, nodes: Sequence[Node], pods: Sequence[Pod] = ()):
        self.nodes = nodes
        self.pods = pods
        self._cache: dict[tuple, np.ndarray] = {}
        self._by_pod: dict[int, np.ndarray] = {}

    def mask_of(self, j: int) -> np.ndarray:
        hit = self._by_pod.get(j)
        if hit is None:
            hit = self._by_pod[j] = self.mask(self.pods[j])
        return hit

    def mask(self, pod: Pod) -> np.ndarray:
        key = spec_key(pod)
        hit = self._cache.get(key)
        if hit is None:
            hit = np.array([not static_reasons(pod, n) for n in self.nodes], dtype=bool)
            self._cache[key] = hit
        return hit

    def may_stay(self, pod: Pod, node: Node) -> bool:
        """A running pod keeps its node unless a NoExecute taint it does not tolerate evicts it."""
        return not untolerated(pod, node, ("NoExecute",))
