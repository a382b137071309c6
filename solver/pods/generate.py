"""Seeded instance generators: the grid of "Priority Matters" (Christensen, Giallorenzo, Mauro 2025).

ReplicaSets of 1-4 identical replicas, each drawing CPU uniformly in 100-1000 m, memory in
100-1000 MiB and a priority uniformly in 1..k; N identical nodes sized so that total requests /
(N x capacity) = util on each resource, never smaller than the largest pod. All pods are pending,
in the order their ReplicaSets were created. The grid keeps only seeds where the default
scheduler without preemption leaves a pod pending: the cases where an optimizer can matter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from models.pods import Node, Pod, PodsInstance
from solver.pods.cluster import CPU, MEMORY, build_arrays
from solver.pods.heuristic import kube_default

GRID_NODES = (4, 8, 16, 32, 64)
GRID_PODS_PER_NODE = (4, 8)
GRID_PRIORITIES = (1, 2, 4)
GRID_UTILS = (0.90, 0.95, 1.00, 1.05)


def paper_instance(n_nodes: int, pods_per_node: int, priorities: int, util: float, seed: int) -> PodsInstance:
    rng = np.random.default_rng([seed, n_nodes, pods_per_node, priorities, round(util * 100)])
    total = n_nodes * pods_per_node
    pods: list[Pod] = []
    rs = 0
    while len(pods) < total:
        replicas = int(rng.integers(1, 5))
        cpu = int(rng.integers(100, 1001))
        mem = int(rng.integers(100, 1001))
        prio = int(rng.integers(1, priorities + 1))
        for r in range(min(replicas, total - len(pods))):
            pods.append(
                Pod(name=f"rs{rs}-{r}", group=f"rs{rs}", requests={CPU: cpu, MEMORY: mem}, priority=prio)
            )
        rs += 1
    caps = {}
    for res in (CPU, MEMORY):
        demand = sum(p.requests[res] for p in pods)
        caps[res] = max(math.ceil(demand / (n_nodes * util)), max(p.requests[res] for p in pods))
    nodes = [Node(name=f"node-{i:02d}", capacity=dict(caps)) for i in range(n_nodes)]
    return PodsInstance(nodes=nodes, pods=pods)


def default_leaves_pending(inst: PodsInstance) -> bool:
    st = kube_default(build_arrays(inst), preemption=False)
    return bool((st.node_of < 0).any())


@dataclass(frozen=True)
class GridCell:
    nodes: int
    pods_per_node: int
    priorities: int
    util: float
    seed: int

    @property
    def name(self) -> str:
        util = round(self.util * 100)
        return f"paper-n{self.nodes}-p{self.pods_per_node}-k{self.priorities}-u{util}-s{self.seed}"


def paper_grid(
    per_cell: int = 1,
    nodes: tuple[int, ...] = GRID_NODES,
    pods_per_node: tuple[int, ...] = GRID_PODS_PER_NODE,
    priorities: tuple[int, ...] = GRID_PRIORITIES,
    utils: tuple[float, ...] = GRID_UTILS,
    max_seed: int = 200,
) -> Iterator[tuple[GridCell, PodsInstance]]:
    """Instances of the grid where the default scheduler leaves a pod pending, per_cell per cell."""
    for n in nodes:
        for ppn in pods_per_node:
            for k in priorities:
                for util in utils:
                    kept = 0
                    for seed in range(max_seed):
                        inst = paper_instance(n, ppn, k, util, seed)
                        if default_leaves_pending(inst):
                            yield GridCell(n, ppn, k, util, seed), inst
                            kept += 1
                            if kept >= per_cell:
                                break
