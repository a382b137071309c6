"""Both exact engines reach the exhaustive-search optimum on tiny instances, and prove it."""

import pytest

import solver
from models.pods import PodsRequest
from tests.pods.bruteforce import best_objective
from tests.pods.tiny import tiny_instance

SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_cpsat_equals_brute_force(seed):
    inst = tiny_instance(seed)
    expected, _ = best_objective(inst)
    r = solver.solve(PodsRequest(instance=inst, options={"time_limit_s": 5, "workers": 1, "engine": "cpsat"}))
    if expected is None:
        assert r.status == "infeasible" and r.plan is None and r.explanations
        return
    assert solver.check("pods", inst, r.plan).ok
    assert r.objective == expected
    assert r.status == "optimal"


@pytest.mark.parametrize("seed", SEEDS[::3])
def test_ilp_equals_brute_force(seed):
    inst = tiny_instance(seed)
    expected, _ = best_objective(inst)
    r = solver.solve(PodsRequest(instance=inst, options={"time_limit_s": 5, "engine": "ilp"}))
    if expected is None:
        assert r.status == "infeasible"
        return
    assert solver.check("pods", inst, r.plan).ok
    assert r.objective == expected
    assert r.status == "optimal"
