"""The CP-SAT formulation: stages as arcs of a path over the layer positions (arcs.py).

  - x_k for each arc (stage [a, b) on class c): one arc leaves position 0, one enters L, and every
    position in between has as many arcs entering as leaving: the stage boundaries;
  - sum of x_k over class c <= its device count (device assignment; devices of a class are alike);
    sum of x_k <= the stage limit;
  - class-dependent cuts: y_(j,x,y) for the pair of classes meeting at cut j, linked to the arcs
    ending and starting there (sum over y = arcs of class x ending at j, and the converse), so each
    transfer is the chosen device pair's;
  - training memory: arcs carry the state min(S, stages to the last); flow is kept per state (arcs.py);
  - bottleneck: B >= sum over arcs leaving j of their time x_k, for each j (at most one is chosen), and
    B >= sum of the cut arcs' times at j; latency: the sum of the chosen arcs' and cut arcs' times.
Times are integers in units of 2^e ms, e chosen so that the largest latency is below 2^46 units; each
term is rounded to the nearest unit, so a bound in units converts to milliseconds with the rounding of
every term a plan can have taken off (a valid bound; the plan's own times come from the evaluation).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from ortools.sat.python import cp_model

from models.common import SolveOptions
from solver.engine.budget import Deadline
from solver.engine.cpsat import CpSatBackend, model_size
from solver.pipeline import arcs as arcset
from solver.pipeline.arcs import ArcSet, decode, flow_rows, incidence, start_values
from solver.pipeline.problem import Placement, Problem

SCALE_BITS = 46


def unit_ms(p: Problem) -> float:
    return 2.0 ** math.ceil(math.log2(max(p.reference_ms, 1e-12) / 2**SCALE_BITS))


class Step:
    """The outcome of one solve: status, the decoded placement, and a valid bound in milliseconds."""

    def __init__(self, status: str, placement: Placement | None, bound_ms: float | None, raw: str):
        self.status = status
        self.placement = placement
        self.bound_ms = bound_ms
        self.raw = raw


class CpArcs:
    def __init__(self, p: Problem, arcs: ArcSet, options: SolveOptions, workers: int, deadline: Deadline):
        self.p, self.arcs = p, arcs
        self.u = unit_ms(p)
        m = self.model = cp_model.CpModel()
        n = arcs.n
        self.x = []
        for k in range(n):
            self.x.append(m.new_bool_var(f"x{k}"))
            if k % 4096 == 4095:
                deadline.check("model building")
        self.y = [m.new_bool_var(f"y{k}") for k in range(arcs.cut_j.size)]
        self.bott = np.rint(arcs.bott / self.u).astype(np.int64)
        self.lat = np.rint(arcs.lat / self.u).astype(np.int64)
        self.cut = np.rint(arcs.cut_ms / self.u).astype(np.int64)
        L = p.L
        self.at = at = incidence(arcs, L)
        deadline.check("model building")
        for i, (plus, minus, rhs) in enumerate(flow_rows(arcs, L)):
            terms = [self.x[k] for k in plus] + [self.x[k] for k in minus]
            m.add(cp_model.LinearExpr.weighted_sum(terms, [1] * len(plus) + [-1] * len(minus)) == rhs)
            if i % 256 == 255:
                deadline.check("model building")
        for c, cls in enumerate(p.classes):
            members = np.flatnonzero(arcs.cls == c)
            if members.size > cls.count:
                m.add(sum(self.x[k] for k in members.tolist()) <= cls.count)
        if n > p.kmax:
            m.add(sum(self.x) <= p.kmax)
        deadline.check("model building")
        if not arcs.uniform:
            for j in range(1, L):
                ends: dict[int, list[int]] = {}
                starts: dict[int, list[int]] = {}
                for k in at.in_at[j]:
                    ends.setdefault(int(arcs.cls[k]), []).append(k)
                for k in at.out_at[j]:
                    starts.setdefault(int(arcs.cls[k]), []).append(k)
                by_x: dict[int, list[int]] = {}
                by_y: dict[int, list[int]] = {}
                for i in at.cut_at[j]:
                    by_x.setdefault(int(arcs.cut_x[i]), []).append(i)
                    by_y.setdefault(int(arcs.cut_y[i]), []).append(i)
                for c, ks in ends.items():
                    m.add(sum(self.y[i] for i in by_x.get(c, [])) == sum(self.x[k] for k in ks))
                for c, ks in starts.items():
                    m.add(sum(self.y[i] for i in by_y.get(c, [])) == sum(self.x[k] for k in ks))
        self.latency = cp_model.LinearExpr.weighted_sum(self.x, self.lat.tolist()) + (
            cp_model.LinearExpr.weighted_sum(self.y, self.cut.tolist()) if self.y else 0
        )
        self.B: Any = None
        self.backend = CpSatBackend(
            m, options, workers, token=deadline.token, parameters=_parameters(workers)
        )
        self.dtime = 0.0

    # objectives and restrictions ---------------------------------------------------------------
    def _bottleneck_var(self) -> Any:
        if self.B is None:
            m = self.model
            top = int(max(self.bott.max(initial=0), self.cut.max(initial=0)))
            self.B = m.new_int_var(0, top, "B")
            for ks in self.at.out_at:
                if ks:
                    m.add(
                        cp_model.LinearExpr.weighted_sum([self.x[k] for k in ks], self.bott[ks].tolist())
                        <= self.B
                    )
            for ids in self.at.cut_at:
                if ids:
                    m.add(
                        cp_model.LinearExpr.weighted_sum([self.y[i] for i in ids], self.cut[ids].tolist())
                        <= self.B
                    )
        return self.B

    def minimize_latency(self) -> None:
        self.model.minimize(self.latency)
        self._objective = "latency"

    def minimize_bottleneck(self) -> None:
        self.model.minimize(self._bottleneck_var())
        self._objective = "bottleneck"

    def cap_latency(self, latency_ms: float) -> None:
        """Latency within latency_ms (plus the rounding of every term, so no such plan is cut off)."""
        self.model.add(self.latency <= math.floor(latency_ms / self.u) + self.p.kmax)

    def forbid(self, threshold_ms: float) -> None:
        """Fix to 0 every arc and cut arc whose time reaches threshold_ms (what a plan strictly below that
        bottleneck cannot use)."""
        xs, ys = arcset.forbidden(self.arcs, threshold_ms)
        proto = self.model.proto
        for var in [self.x[k] for k in xs] + [self.y[i] for i in ys]:
            proto.variables[var.index].domain[1] = 0  # a Boolean's domain [0, 1] becomes [0, 0]

    def hint(self, placement: Placement | None) -> bool:
        start = start_values(self.p, self.arcs, placement)
        if start is None:
            return False
        xs, ys = start
        values: dict[Any, int] = dict(zip(self.x, xs, strict=True)) | dict(zip(self.y, ys, strict=True))
        if self.B is not None:
            values[self.B] = int(arcset.start_bottleneck(xs, ys, self.bott, self.cut))
        self.backend.set_hint(values)
        return True

    def size(self) -> tuple[int, int]:
        return model_size(self.model)

    # solving -----------------------------------------------------------------------------------
    def solve(self, seconds: float, nominal: float | None) -> Step:
        res = self.backend.solve(seconds, nominal)
        self.dtime = self.backend.dtime
        if res.status == "infeasible":
            return Step("infeasible", None, None, res.raw_status)
        placement = None
        if self.backend.has_solution():
            chosen = [k for k, v in enumerate(self.x) if self.backend.value(v)]
            placement = decode(self.p, self.arcs, chosen)
        bound = None
        if res.bound is not None and math.isfinite(res.bound):
            if self._objective == "latency":
                bound = (math.ceil(res.bound - 1e-6) - self.p.kmax) * self.u
            else:
                bound = (math.ceil(res.bound - 1e-6) - 0.5) * self.u
            bound = max(bound, 0.0)
        return Step(res.status, placement, bound, res.raw_status)


def _parameters(workers: int) -> dict[str, object]:
    """Presolve probing costs more than the whole search on these flow models (its LP is nearly
    integral); with two workers, the default LP and the max LP search both pay more than local search
    (measured, 100 layers: min latency 0.30 -> 0.06 s; training, 6.6k arcs: 2.6 -> 0.16-0.23 s)."""
    params: dict[str, object] = {"cp_model_probing_level": 0}
    if workers == 2:
        params.update(subsolvers=["default_lp", "max_lp"], num_full_subsolvers=2)
    return params
