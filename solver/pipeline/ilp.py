"""The same arc formulation as cpsat.py in PuLP, solved by HiGHS in-process (or CBC).

Binary x per stage arc and y per cut arc, flow conservation over the positions, class counts, the
stage limit, training memory through the arcs' states, and B >= the time of the arc
leaving each position. Times stay in milliseconds (floats): the MIP needs no integer scaling, and a
solve HiGHS proves optimal is exact to its tolerances (its plan is re-evaluated by the checker).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pulp

from models.common import SolveOptions
from solver.engine.budget import Deadline
from solver.engine.ilp import PulpBackend
from solver.pipeline import arcs as arcset
from solver.pipeline.arcs import ArcSet, decode, flow_rows, incidence, start_values
from solver.pipeline.cpsat import Step
from solver.pipeline.problem import Placement, Problem


def _sum(terms: list[tuple[Any, float]]) -> pulp.LpAffineExpression:
    return pulp.LpAffineExpression(terms)


class PulpArcs:
    def __init__(self, p: Problem, arcs: ArcSet, options: SolveOptions, deadline: Deadline):
        self.p, self.arcs = p, arcs
        prob = self.problem = pulp.LpProblem("pipeline", pulp.LpMinimize)
        n = arcs.n
        self.x = [prob.add_variable(f"x{k}", 0, 1, pulp.LpInteger) for k in range(n)]
        self.y = [prob.add_variable(f"y{k}", 0, 1, pulp.LpInteger) for k in range(arcs.cut_j.size)]
        L = p.L
        self.at = at = incidence(arcs, L)
        deadline.check("model building")
        for plus, minus, rhs in flow_rows(arcs, L):
            prob += _sum([(self.x[k], 1) for k in plus] + [(self.x[k], -1) for k in minus]) == rhs
        for c, cls in enumerate(p.classes):
            members = np.flatnonzero(arcs.cls == c).tolist()
            if len(members) > cls.count:
                prob += _sum([(self.x[k], 1) for k in members]) <= cls.count
        if n > p.kmax:
            prob += _sum([(v, 1) for v in self.x]) <= p.kmax
        if not arcs.uniform:
            for j in range(1, L):
                groups: dict[tuple[str, int], list[tuple[Any, float]]] = {}
                for k in at.in_at[j]:
                    groups.setdefault(("in", int(arcs.cls[k])), []).append((self.x[k], -1))
                for k in at.out_at[j]:
                    groups.setdefault(("out", int(arcs.cls[k])), []).append((self.x[k], -1))
                for i in at.cut_at[j]:
                    groups.setdefault(("in", int(arcs.cut_x[i])), []).append((self.y[i], 1))
                    groups.setdefault(("out", int(arcs.cut_y[i])), []).append((self.y[i], 1))
                for terms in groups.values():
                    prob += _sum(terms) == 0
        deadline.check("model building")
        self.latency = _sum(
            [(v, float(t)) for v, t in zip(self.x, arcs.lat.tolist(), strict=True)]
            + [(v, float(t)) for v, t in zip(self.y, arcs.cut_ms.tolist(), strict=True)]
        )
        self.B: Any = None
        self.backend = PulpBackend(prob, options, options.ilp_solver)
        self._objective = "latency"

    def _bottleneck_var(self) -> Any:
        if self.B is None:
            top = float(max(self.arcs.bott.max(initial=0), self.arcs.cut_ms.max(initial=0)))
            self.B = self.problem.add_variable("B", 0, top)
            for ks in self.at.out_at:
                if ks:
                    self.problem += (
                        _sum([(self.B, 1)] + [(self.x[k], -float(self.arcs.bott[k])) for k in ks]) >= 0
                    )
            for ids in self.at.cut_at:
                if ids:
                    self.problem += (
                        _sum([(self.B, 1)] + [(self.y[i], -float(self.arcs.cut_ms[i])) for i in ids]) >= 0
                    )
        return self.B

    def minimize_latency(self) -> None:
        self.backend.set_objective(self.latency, "min")
        self._objective = "latency"

    def minimize_bottleneck(self) -> None:
        self.backend.set_objective(_sum([(self._bottleneck_var(), 1)]), "min")
        self._objective = "bottleneck"

    def cap_latency(self, latency_ms: float) -> None:
        self.problem += self.latency <= latency_ms * (1 + 1e-9) + 1e-9

    def forbid(self, threshold_ms: float) -> None:
        xs, ys = arcset.forbidden(self.arcs, threshold_ms)
        for v in [self.x[k] for k in xs] + [self.y[i] for i in ys]:
            v.upBound = 0

    def hint(self, placement: Placement | None) -> bool:
        start = start_values(self.p, self.arcs, placement)
        if start is None:
            return False
        xs, ys = start
        chosen = [v for v, on in zip(self.x + self.y, xs + ys, strict=True) if on]
        if any(v.upBound == 0 for v in chosen):  # a start HiGHS would reject: it uses a forbidden arc
            return False
        values: dict[Any, float] = dict(zip(self.x, xs, strict=True)) | dict(zip(self.y, ys, strict=True))
        if self.B is not None:
            values[self.B] = arcset.start_bottleneck(xs, ys, self.arcs.bott, self.arcs.cut_ms)
        self.backend.set_hint(values)
        return True

    def size(self) -> tuple[int, int]:
        return len(self.problem.variables()), self.problem.numConstraints()

    def solve(self, seconds: float, nominal: float | None) -> Step:
        res = self.backend.solve(seconds, nominal)
        if res.status == "infeasible":
            return Step("infeasible", None, None, res.raw_status)
        placement = None
        if res.status in ("optimal", "feasible") and self.backend.has_solution():
            chosen = [k for k, v in enumerate(self.x) if self.backend.value(v) > 0.5]
            placement = decode(self.p, self.arcs, chosen)
        bound = res.bound if res.bound is not None and math.isfinite(res.bound) else None
        if bound is not None:
            bound = max(0.0, bound - 1e-9 * max(1.0, abs(bound)))  # HiGHS's tolerances
        return Step(res.status, placement, bound, res.raw_status)
