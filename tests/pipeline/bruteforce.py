"""Exhaustive search over every placement of a tiny instance: the reference the engines are held to."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from solver.pipeline.plans import Evaluated, evaluate, non_dominated
from solver.pipeline.problem import Placement, Problem


def placements(p: Problem) -> Iterator[Placement]:
    for k in range(1, p.kmax + 1):
        for cuts in itertools.combinations(range(1, p.L), k - 1):
            bounds = [0, *cuts, p.L]
            for devs in itertools.permutations(range(p.D), k):
                yield [(bounds[s], bounds[s + 1], devs[s]) for s in range(k)]


def feasible(p: Problem) -> list[Evaluated]:
    return [e for e in (evaluate(p, pl) for pl in placements(p)) if e.feasible]


def best(p: Problem, objective: str) -> Evaluated | None:
    evs = feasible(p)
    if not evs:
        return None
    return min(evs, key=lambda e: e.key(objective))


def front(p: Problem) -> list[Evaluated]:
    return non_dominated(feasible(p))
