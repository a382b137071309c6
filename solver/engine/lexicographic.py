"""Solve a lexicographic objective on any exact backend: weighted when exact, tier by tier otherwise.

Rule 4 of the design: the result equals the tier-by-tier optimum. With weights
w_i = prod_{j>i}(range_j + 1) a weighted sum orders plans exactly as the tiers do, as long as the
largest weight is exactly representable by the backend (2^53 for CP-SAT's double bound, far less
for a floating-point MIP). Otherwise each tier is optimised in turn and its value is fixed before
the next one, each stage warm-started from the previous solution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from models.common import Sense
from solver.engine.budget import Deadline

StageStatus = Literal["optimal", "feasible", "infeasible", "unknown"]


@dataclass
class Tier:
    name: str
    expr: Any  # backend-native linear expression with integer coefficients
    sense: Sense
    lb: int  # range of the expression over every feasible plan
    ub: int

    @property
    def span(self) -> int:
        return max(0, self.ub - self.lb)


@dataclass
class StageResult:
    status: StageStatus
    bound: float | None  # the backend's proven bound on the staged objective, when it has one
    raw_status: str


class LexBackend(Protocol):
    """An exact engine seen as: set an objective, add a constraint, solve for a while, read values."""

    max_weight: float

    def set_objective(self, expr: Any, sense: Sense) -> None: ...

    def add_at_least(self, expr: Any, value: int) -> None: ...

    def add_at_most(self, expr: Any, value: int) -> None: ...

    def solve(self, seconds: float, nominal: float | None = None) -> StageResult:
        """Search for at most `seconds` of wall time. `nominal` is the same budget computed from the
        request alone (no clock readings): with one worker it sets a deterministic-time limit, so the
        same request gives the same answer."""
        ...

    def has_solution(self) -> bool: ...

    def evaluate(self, expr: Any) -> float: ...

    def hint_last_solution(self) -> None: ...


@dataclass
class LexOutcome:
    status: StageStatus  # optimal = every tier proven
    objective: dict[str, float] | None
    bound: dict[str, float | None] | None
    raw_status: str
    stages: int


def weights(tiers: list[Tier]) -> list[int]:
    out = [1] * len(tiers)
    for i in range(len(tiers) - 2, -1, -1):
        out[i] = out[i + 1] * (tiers[i + 1].span + 1)
    return out


def solve_lexicographic(
    backend: LexBackend, tiers: list[Tier], deadline: Deadline, reserve_s: float, nominal: float | None = None
) -> LexOutcome:
    """Solve within the deadline less the reserve; `nominal` is that budget computed from the request
    alone (see LexBackend.solve)."""
    w = weights(tiers)
    if tiers and w[0] * (tiers[0].span + 1) <= backend.max_weight:
        return _weighted(backend, tiers, w, deadline, reserve_s, nominal)
    return _staged(backend, tiers, deadline, reserve_s, nominal)


def _gain(tier: Tier) -> Any:
    """The tier as a non-negative quantity to maximise, 0..span."""
    return tier.expr - tier.lb if tier.sense == "max" else tier.ub - tier.expr


def _from_gain(tier: Tier, gain: int) -> int:
    return tier.lb + gain if tier.sense == "max" else tier.ub - gain


def _objective(backend: LexBackend, tiers: list[Tier]) -> dict[str, float] | None:
    if not backend.has_solution():
        return None
    return {t.name: round(backend.evaluate(t.expr)) for t in tiers}


def _weighted(
    backend: LexBackend,
    tiers: list[Tier],
    w: list[int],
    deadline: Deadline,
    reserve_s: float,
    nominal: float | None,
) -> LexOutcome:
    total = sum(wi * _gain(t) for wi, t in zip(w, tiers, strict=True))
    backend.set_objective(total, "max")
    res = backend.solve(deadline.remaining() - reserve_s, nominal)
    if res.status == "infeasible":
        return LexOutcome("infeasible", None, None, res.raw_status, 1)
    bound: dict[str, float | None] | None = None
    if res.bound is not None and math.isfinite(res.bound):
        rest = math.floor(res.bound + 1e-6)
        bound = {}
        # the lexicographically largest vector whose weighted sum is within the bound
        for wi, t in zip(w, tiers, strict=True):
            g = min(t.span, max(0, rest // wi))
            rest -= g * wi
            bound[t.name] = _from_gain(t, g)
    objective = _objective(backend, tiers)
    if res.status == "optimal" and objective is not None:
        bound = dict(objective)
    return LexOutcome(res.status, objective, bound, res.raw_status, 1)


def _staged(
    backend: LexBackend, tiers: list[Tier], deadline: Deadline, reserve_s: float, nominal: float | None
) -> LexOutcome:
    bound: dict[str, float | None] = {}
    proven = True
    raw = ""
    for i, tier in enumerate(tiers):
        if tier.span == 0 and backend.has_solution():  # constant over all plans: nothing to optimise
            if proven:
                bound[tier.name] = tier.lb
            continue
        if backend.has_solution():
            backend.hint_last_solution()
        backend.set_objective(tier.expr, tier.sense)
        seconds = (deadline.remaining() - reserve_s) / (len(tiers) - i)
        res = backend.solve(seconds, None if nominal is None else nominal / len(tiers))
        raw = res.raw_status
        if res.status == "infeasible":
            if i == 0:
                return LexOutcome("infeasible", None, None, raw, i + 1)
            raise RuntimeError(
                f"stage {tier.name} infeasible although the previous stage's plan satisfies it"
            )
        if not backend.has_solution():
            return LexOutcome("unknown", None, None, raw, i + 1)
        value = round(backend.evaluate(tier.expr))
        if res.status == "optimal" and proven:
            bound[tier.name] = value
        elif proven:
            proven = False
            if res.bound is not None and math.isfinite(res.bound):
                bound[tier.name] = (
                    math.floor(res.bound + 1e-6) if tier.sense == "max" else math.ceil(res.bound - 1e-6)
                )
        # keep what this tier reached while the next ones are optimised
        if tier.sense == "max":
            backend.add_at_least(tier.expr, value)
        else:
            backend.add_at_most(tier.expr, value)
        if deadline.remaining() <= reserve_s and i < len(tiers) - 1:
            proven = False
            break
    objective = _objective(backend, tiers)
    status: StageStatus = "optimal" if proven and len(bound) == len(tiers) else "feasible"
    return LexOutcome(status, objective, bound or None, raw, len(tiers))
