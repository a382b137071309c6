"""The cheap bound's LP knapsack equals the LP optimum (HiGHS on the same relaxation), ties included."""

from __future__ import annotations

import highspy
import numpy as np
import pytest

from solver.batching.bound import lp_knapsack


def highs_lp(v: np.ndarray, a: np.ndarray, c: np.ndarray, b: np.ndarray, r: float) -> float:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    n, m = len(v), len(c)
    inf = highspy.kHighsInf
    for _ in range(n + m):
        h.addVar(0.0, 1.0)
    h.changeColsCost(n + m, np.arange(n + m, dtype=np.int32), np.concatenate([-v, c]).astype(float))
    idx = np.arange(n + m, dtype=np.int32)
    h.addRow(-inf, float(r), n + m, idx, np.concatenate([a, -b]).astype(float))
    h.run()
    return -h.getInfo().objective_function_value


@pytest.mark.parametrize("seed", range(30))
def test_lp_knapsack_equals_the_lp_optimum(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(0, 40)), int(rng.integers(0, 10))
    if seed % 3 == 0:  # many ties among the ratios, as in a step where most requests are worth the same
        v = rng.choice([0, 1000, 1500], size=n).astype(float)
        a = np.ones(n)
    else:
        v = rng.integers(0, 2000, size=n).astype(float)
        a = rng.integers(1, 500, size=n).astype(float)
    c = rng.integers(0, 3000, size=m).astype(float)
    b = rng.integers(1, 300, size=m).astype(float)
    r = float(rng.integers(-200, 2000))
    if b.sum() < -r:
        return  # no feasible point (the running requests cannot free enough): not a case it is asked for
    assert lp_knapsack(v, a, c, b, r) == pytest.approx(highs_lp(v, a, c, b, r), rel=1e-9, abs=1e-6)
