"""Placement arrays <-> PodsPlan, and the lexicographic objective's names and directions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.common import Sense
from models.pods import Assignment, Move, PodsInstance, PodsPlan
from solver.pods.cluster import Arrays

EVICTIONS, MOVES = "evictions", "moves"


def tier_name(priority: int) -> str:
    return f"placed_priority_{priority}"


def senses(inst: PodsInstance) -> dict[str, Sense]:
    """Placed pods per priority from the highest, then fewest evictions, then fewest moves."""
    out: dict[str, Sense] = {
        tier_name(p): "max" for p in sorted({p.priority for p in inst.pods}, reverse=True)
    }
    out[EVICTIONS] = "min"
    out[MOVES] = "min"
    return out


def evaluate(arr: Arrays, node_of: np.ndarray) -> dict[str, float]:
    """The objective of a placement, for the search loops (the checker recomputes it independently)."""
    out: dict[str, float] = {}
    placed = node_of >= 0
    for p in sorted(set(arr.prio.tolist()), reverse=True):
        out[tier_name(p)] = float(np.count_nonzero(placed & (arr.prio == p)))
    running = arr.origin >= 0
    out[EVICTIONS] = float(np.count_nonzero(running & ~placed))
    out[MOVES] = float(np.count_nonzero(running & placed & (node_of != arr.origin)))
    return out


def to_plan(arr: Arrays, node_of: np.ndarray, gpus_of: Sequence[Sequence[int]]) -> PodsPlan:
    nodes, pods = arr.inst.nodes, arr.inst.pods
    assignments, moves, evictions, pending = [], [], [], []
    placed: dict[int, int] = {}
    for j, pod in enumerate(pods):
        n = int(node_of[j])
        node = nodes[n].name if n >= 0 else None
        gpus = sorted(int(d) for d in gpus_of[j]) if node and len(gpus_of[j]) else []
        assignments.append(
            Assignment.model_construct(pod=pod.name, node=node, gpus=gpus)
        )  # trusted: no validation
        if node is not None:
            placed[pod.priority] = placed.get(pod.priority, 0) + 1
        if pod.node is None:
            if node is None:
                pending.append(pod.name)
        elif node is None:
            evictions.append(pod.name)
        elif node != pod.node:
            moves.append(Move.model_construct(pod=pod.name, from_node=pod.node, to_node=node))
    return PodsPlan.model_construct(
        assignments=assignments,
        moves=moves,
        evictions=evictions,
        pending=pending,
        placed_by_priority=dict(sorted(placed.items(), reverse=True)),
    )


def from_plan(arr: Arrays, plan: PodsPlan) -> tuple[np.ndarray, list[list[int]]]:
    node_of = np.full(arr.n_pods, -1, dtype=np.int64)
    gpus_of: list[list[int]] = [[] for _ in range(arr.n_pods)]
    for a in plan.assignments:
        j = arr.pod_index[a.pod]
        if a.node is not None:
            node_of[j] = arr.node_index[a.node]
            gpus_of[j] = list(a.gpus)
    return node_of, gpus_of
