"""One way to write a linear integer model, two engines to solve it.

A family writes its formulation once against `ModelBuilder`; `CpSatBuilder` turns it into a
CP-SAT model and `PulpBuilder` into a PuLP problem. Both engines then solve the same model, which
is what makes "the engines agree on small instances" a meaningful test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pulp
from ortools.sat.python import cp_model

from solver.engine.budget import Deadline

CHECK_EVERY = 2048  # constraints between deadline checks while building


class ModelBuilder(Protocol):
    deadline: Deadline

    def int_var(self, lb: int, ub: int, name: str) -> Any: ...

    def ub(self, var: Any) -> int: ...

    def linear(self, variables: Sequence[Any], coefs: Sequence[int], constant: int = 0) -> Any: ...

    def add_le(self, expr: Any, rhs: int) -> None: ...

    def add_eq(self, expr: Any, rhs: int) -> None: ...

    def size(self) -> tuple[int, int]: ...


class _Counting:
    deadline: Deadline
    _rows = 0

    def _tick(self) -> None:
        self._rows += 1
        if self._rows % CHECK_EVERY == 0:
            self.deadline.check("model building")


class CpSatBuilder(_Counting):
    def __init__(self, deadline: Deadline):
        self.deadline = deadline
        self.model = cp_model.CpModel()
        self._ub: list[int] = []

    def int_var(self, lb: int, ub: int, name: str) -> Any:
        var = self.model.new_int_var(lb, ub, name)
        self._ub.append(ub)
        return var

    def ub(self, var: Any) -> int:
        return self._ub[var.index]

    def linear(self, variables: Sequence[Any], coefs: Sequence[int], constant: int = 0) -> Any:
        expr = cp_model.LinearExpr.weighted_sum(list(variables), [int(c) for c in coefs])
        return expr + constant if constant else expr

    def add_le(self, expr: Any, rhs: int) -> None:
        self.model.add(expr <= int(rhs))
        self._tick()

    def add_eq(self, expr: Any, rhs: int) -> None:
        self.model.add(expr == int(rhs))
        self._tick()

    def size(self) -> tuple[int, int]:
        proto = self.model.proto
        return len(proto.variables), len(proto.constraints)


class PulpBuilder(_Counting):
    def __init__(self, deadline: Deadline, name: str = "schedopt"):
        self.deadline = deadline
        self.problem = pulp.LpProblem(name, pulp.LpMaximize)
        self._vars = 0

    def int_var(self, lb: int, ub: int, name: str) -> Any:
        self._vars += 1
        return self.problem.add_variable(name, lowBound=lb, upBound=ub, cat=pulp.LpInteger)

    def ub(self, var: Any) -> int:
        return int(var.upBound)

    def linear(self, variables: Sequence[Any], coefs: Sequence[int], constant: int = 0) -> Any:
        return pulp.LpAffineExpression(list(zip(variables, (int(c) for c in coefs), strict=True)), constant)

    def add_le(self, expr: Any, rhs: int) -> None:
        self.problem += expr <= int(rhs)
        self._tick()

    def add_eq(self, expr: Any, rhs: int) -> None:
        self.problem += expr == int(rhs)
        self._tick()

    def size(self) -> tuple[int, int]:
        return self._vars, self.problem.numConstraints()
