"""Between placements (internal: [(a, b, device)] with layers [a, b)) and plans (the public StagePlan and
ParetoFront): evaluation, objectives, non-dominated filtering and the hypervolume of a front."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from models.pipeline import (
    ParetoFront,
    PlanObjective,
    Stage,
    StagePlan,
)
from solver.pipeline.problem import Placement, Problem

TOL = 1e-9  # relative, as the portfolio compares objectives


def close(x: float, y: float) -> bool:
    return abs(x - y) <= TOL * max(1.0, abs(x), abs(y))


@dataclass
class Evaluated:
    placement: Placement
    bottleneck: float
    latency: float
    feasible: bool

    def key(self, objective: str) -> tuple[float, float]:
        if objective == "latency":
            return (self.latency, self.bottleneck)
        return (self.bottleneck, self.latency)


def evaluate(p: Problem, placement: Placement) -> Evaluated:
    k = len(placement)
    bottleneck = latency = 0.0
    feasible = k > 0 and placement[0][0] == 0 and placement[-1][1] == p.L
    used: set[int] = set()
    for s, (a, b, d) in enumerate(placement):
        compute = p.stage_ms(a, b, d)
        send = p.device_cut(d, placement[s + 1][2], b) if s + 1 < k else 0.0
        bottleneck = max(bottleneck, compute, send)
        latency += compute + send
        feasible = feasible and a < b and d not in used and p.fits(a, b, d, p.in_flight(s, k))
        feasible = feasible and (s + 1 == k or placement[s + 1][0] == b)
        used.add(d)
    if k > p.kmax:
        feasible = False
    return Evaluated(placement, bottleneck, latency, feasible and math.isfinite(latency))


def to_stage_plan(p: Problem, placement: Placement) -> StagePlan:
    k = len(placement)
    stages = []
    bottleneck = latency = 0.0
    for s, (a, b, d) in enumerate(placement):
        compute = p.stage_ms(a, b, d)
        send = p.device_cut(d, placement[s + 1][2], b) if s + 1 < k else 0.0
        q = p.in_flight(s, k)
        bottleneck = max(bottleneck, compute, send)
        latency += compute + send
        stages.append(
            Stage.model_construct(
                device=p.dev_names[d],
                layers=(a, b - 1),
                compute_ms=compute,
                send_ms=send,
                memory_bytes=math.ceil(p.memory(a, b, q)),
                in_flight=q,
            )
        )
    objective = PlanObjective.model_construct(
        bottleneck_ms=bottleneck,
        latency_ms=latency,
        throughput_per_s=1000.0 / bottleneck if bottleneck > 0 else math.inf,
    )
    return StagePlan.model_construct(stages=stages, objective=objective)


def from_stage_plan(p: Problem, plan: StagePlan) -> Placement:
    index = {name: d for d, name in enumerate(p.dev_names)}
    return [(st.layers[0], st.layers[1] + 1, index[st.device]) for st in plan.stages]


def non_dominated(points: Sequence[Evaluated]) -> list[Evaluated]:
    """The feasible points no other point dominates (within the tolerance), by increasing bottleneck."""
    ranked = sorted((e for e in points if e.feasible), key=lambda e: (e.bottleneck, e.latency))
    out: list[Evaluated] = []
    for e in ranked:
        while out and close(out[-1].bottleneck, e.bottleneck) and e.latency < out[-1].latency:
            out.pop()
        if out and (e.latency > out[-1].latency or close(e.latency, out[-1].latency)):
            continue
        out.append(e)
    return out


def hypervolume(points: Sequence[tuple[float, float]], reference: float) -> float:
    """Area dominated by the (bottleneck, latency) points up to (reference, reference)."""
    pts = sorted((min(b, reference), min(lat, reference)) for b, lat in points)
    area = 0.0
    best_lat = reference
    for i, (b, lat) in enumerate(pts):
        nxt = pts[i + 1][0] if i + 1 < len(pts) else reference
        best_lat = min(best_lat, lat)
        area += (nxt - b) * (reference - best_lat)
    return area


def to_front(
    p: Problem, points: Sequence[Evaluated], complete: bool, explored_down_to_ms: float | None
) -> ParetoFront:
    front = non_dominated(points)
    return ParetoFront.model_construct(
        plans=[to_stage_plan(p, e.placement) for e in front],
        complete=complete,
        explored_down_to_ms=explored_down_to_ms,
    )
