"""Exhaustive search over tiny pods instances: the reference the engines are compared against.

It enumerates every node (or none) for every pod and every device choice, prunes on raw
capacity only, ranks the candidates by the lexicographic objective and returns the best one the
independent checker accepts. Nothing here is shared with the formulations.
"""

from __future__ import annotations

import itertools

from models.pods import GPU, Assignment, Move, PodsInstance, PodsPlan
from solver.pods.check import check


def _plan(inst: PodsInstance, choice: list[tuple[str | None, tuple[int, ...]]]) -> PodsPlan:
    assignments, moves, evictions, pending, placed = [], [], [], [], {}
    for pod, (node, gpus) in zip(inst.pods, choice, strict=True):
        assignments.append(Assignment(pod=pod.name, node=node, gpus=list(gpus)))
        if node is None:
            (evictions if pod.node else pending).append(pod.name)
        else:
            placed[pod.priority] = placed.get(pod.priority, 0) + 1
            if pod.node and node != pod.node:
                moves.append(Move(pod=pod.name, from_node=pod.node, to_node=node))
    return PodsPlan(
        assignments=assignments, moves=moves, evictions=evictions, pending=pending, placed_by_priority=placed
    )


def _options(inst: PodsInstance, pod) -> list[tuple[str | None, tuple[int, ...]]]:
    out: list[tuple[str | None, tuple[int, ...]]] = [(None, ())]
    whole = pod.requests.get(GPU, 0)
    for node in inst.nodes:
        devices = range(node.capacity.get(GPU, 0))
        if whole:
            out += [(node.name, c) for c in itertools.combinations(devices, whole)]
        elif pod.gpu_milli:
            out += [(node.name, (d,)) for d in devices]
        else:
            out.append((node.name, ()))
    return out


def best_objective(inst: PodsInstance) -> tuple[dict[str, float], PodsPlan] | tuple[None, None]:
    """The lexicographic optimum and a plan reaching it; (None, None) when no plan is feasible."""
    options = [_options(inst, p) for p in inst.pods]
    senses = [(f"placed_priority_{p}", 1) for p in sorted({p.priority for p in inst.pods}, reverse=True)]
    senses += [("evictions", -1), ("moves", -1)]
    resources = {r for n in inst.nodes for r in n.capacity if r != GPU}
    candidates = []

    def rec(i: int, chosen: list, used: dict) -> None:
        if i == len(inst.pods):
            candidates.append(list(chosen))
            return
        pod = inst.pods[i]
        for node, gpus in options[i]:
            if node is not None:
                cap = next(n for n in inst.nodes if n.name == node).capacity
                if any(used.get((node, r), 0) + pod.requests.get(r, 0) > cap.get(r, 0) for r in resources):
                    continue
                for r in resources:
                    used[(node, r)] = used.get((node, r), 0) + pod.requests.get(r, 0)
            chosen.append((node, gpus))
            rec(i + 1, chosen, used)
            chosen.pop()
            if node is not None:
                for r in resources:
                    used[(node, r)] -= pod.requests.get(r, 0)

    rec(0, [], {})

    def score(choice):
        placed: dict[int, int] = {}
        ev = mv = 0
        for pod, (node, _) in zip(inst.pods, choice, strict=True):
            if node is None:
                ev += pod.node is not None
            else:
                placed[pod.priority] = placed.get(pod.priority, 0) + 1
                mv += pod.node is not None and node != pod.node
        vals = {f"placed_priority_{p}": placed.get(p, 0) for p in {p.priority for p in inst.pods}}
        vals.update(evictions=ev, moves=mv)
        return tuple(sign * vals[name] for name, sign in senses)

    candidates.sort(key=score, reverse=True)
    for choice in candidates:
        plan = _plan(inst, choice)
        report = check(inst, plan)
        if report.ok:
            return report.objective, plan
    return None, None
