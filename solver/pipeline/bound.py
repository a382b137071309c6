"""A cheap valid bound: every layer runs somewhere, at best on its fastest device type.

Bottleneck: the slowest layer on its fastest type (some stage holds it), and the least total time spread
over the most stages allowed. Latency: the least total time (every layer computes once; transfers only add).
Hypervolume (pareto): the box between the reference point and the ideal point of those two bounds.
"""

from __future__ import annotations

from models.pipeline import BOTTLENECK, HYPERVOLUME, LATENCY
from solver.engine.objective import Bound
from solver.pipeline.problem import Problem


def cheap_bound(p: Problem) -> Bound:
    least = p.min_time
    bottleneck = max(float(least.max()), float(least.sum()) / max(1, p.kmax))
    latency = float(least.sum())
    if p.objective == "latency":
        return {LATENCY: latency, BOTTLENECK: bottleneck}
    if p.objective == "pareto":
        r = p.reference_ms
        return {BOTTLENECK: bottleneck, LATENCY: latency, HYPERVOLUME: (r - bottleneck) * (r - latency)}
    return {BOTTLENECK: bottleneck, LATENCY: latency}
