"""Lexicographic objectives: named components in priority order, each maximised or minimised.

A bound is a vector in the same order that no feasible plan beats lexicographically; a component
of None means "not bounded" from there on. Single-objective families are the one-component case.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.common import Sense

Objective = Mapping[str, float]
Bound = Mapping[str, float | None]
Senses = Mapping[str, Sense]

_TOL = 1e-9


def _good(value: float, sense: Sense) -> float:
    """Map a component to 'bigger is better'."""
    return value if sense == "max" else -value


def key(obj: Objective, senses: Senses) -> tuple[float, ...]:
    return tuple(_good(float(obj[name]), sense) for name, sense in senses.items())


def better(a: Objective, b: Objective, senses: Senses) -> bool:
    """True when a is strictly better than b, compared component by component."""
    return _compare(key(a, senses), key(b, senses)) > 0


def no_worse(a: Objective, b: Objective, senses: Senses) -> bool:
    return _compare(key(a, senses), key(b, senses)) >= 0


def _compare(a: tuple[float, ...], b: tuple[float, ...]) -> int:
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if math.isinf(x) or math.isinf(y):  # an unbounded component: no tolerance applies
            return 1 if x > y else -1
        tol = _TOL * max(1.0, abs(x), abs(y))
        if x > y + tol:
            return 1
        if x < y - tol:
            return -1
    return 0


def _bound_key(bound: Bound, senses: Senses) -> tuple[float, ...]:
    out: list[float] = []
    for name, sense in senses.items():
        value = bound.get(name)
        if value is None:  # unbounded here: nothing after it is bounded either
            out.extend([float("inf")] * (len(senses) - len(out)))
            break
        out.append(_good(float(value), sense))
    return tuple(out)


def tighter(a: Bound | None, b: Bound | None, senses: Senses) -> Bound | None:
    """The better (lexicographically smaller in goodness) of two valid bounds."""
    if a is None:
        return b
    if b is None:
        return a
    return a if _compare(_bound_key(a, senses), _bound_key(b, senses)) <= 0 else b


def normalise_bound(bound: Bound, senses: Senses) -> dict[str, float | None]:
    """Components after the first unbounded one are unbounded too."""
    out: dict[str, float | None] = {}
    open_ = False
    for name in senses:
        value = None if open_ else bound.get(name)
        open_ = open_ or value is None
        out[name] = value
    return out


def gap(obj: Objective, bound: Bound | None, senses: Senses) -> float | None:
    """Relative gap on the first component where the plan and the bound differ; 0 when they agree."""
    if bound is None:
        return None
    for name, sense in senses.items():
        b = bound.get(name)
        if b is None:
            return None
        diff = _good(float(b), sense) - _good(float(obj[name]), sense)
        if diff > _TOL * max(1.0, abs(b)):
            return diff / max(1.0, abs(float(b)))
        if diff < -_TOL * max(1.0, abs(b)):
            raise ValueError(f"plan beats a bound that claims to be valid on {name}: {obj[name]} vs {b}")
    return 0.0


def meets(obj: Objective, bound: Bound | None, senses: Senses) -> bool:
    return gap(obj, bound, senses) == 0.0
