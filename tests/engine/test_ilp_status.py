"""PuLP calls a HiGHS run stopped on its time limit "Optimal"; our runner reads HiGHS's own status."""

import numpy as np
import pulp
import pytest

from models.common import SolveOptions
from solver.engine.ilp import PulpBackend


def hard_knapsack(
    seed: int = 7, items: int = 120, dims: int = 12
) -> tuple[pulp.LpProblem, pulp.LpAffineExpression]:
    rng = np.random.default_rng(seed)
    w = rng.integers(20, 100, size=(dims, items))
    v = rng.integers(20, 100, size=items)
    prob = pulp.LpProblem("mkp", pulp.LpMaximize)
    x = [prob.add_variable(f"x{i}", 0, 1, cat=pulp.LpInteger) for i in range(items)]
    objective = pulp.lpSum(int(v[i]) * x[i] for i in range(items))
    prob += objective
    for d in range(dims):
        prob += pulp.lpSum(int(w[d, i]) * x[i] for i in range(items)) <= int(w[d].sum() // 2)
    return prob, objective


def test_time_limited_highs_is_not_reported_optimal():
    prob, _ = hard_knapsack()
    prob.solve(pulp.HiGHS(msg=False, timeLimit=0.05))
    pulp_says_optimal = prob.status == pulp.LpStatusOptimal  # the trap: true although nothing is proven

    prob, objective = hard_knapsack()
    backend = PulpBackend(prob, SolveOptions(), "highs")
    backend.set_objective(objective, "max")
    result = backend.solve(0.05)
    assert result.raw_status == "kTimeLimit"
    assert result.status == "feasible" and backend.has_solution()
    assert result.bound is not None and result.bound > backend.evaluate(objective)
    assert pulp_says_optimal


def test_highs_bound_includes_the_objective_constant():
    prob, objective = hard_knapsack(items=30, dims=3)
    backend = PulpBackend(prob, SolveOptions(), "highs")
    backend.set_objective(1000 - objective, "min")  # a constant PuLP does not hand to HiGHS
    result = backend.solve(5.0)
    assert result.status == "optimal"
    assert result.bound == pytest.approx(backend.evaluate(1000 - objective))
