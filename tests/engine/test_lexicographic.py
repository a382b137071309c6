"""Weighted and tier-by-tier solving give the same lexicographic optimum, on every backend."""

import pytest

from models.common import SolveOptions
from solver.engine.budget import Deadline
from solver.engine.cpsat import CpSatBackend
from solver.engine.ilp import PulpBackend
from solver.engine.lexicographic import Tier, solve_lexicographic, weights
from solver.engine.modeling import CpSatBuilder, PulpBuilder

# Two bins of capacity 10; items (size, tier). Optimum: all three gold items (4+4+5=13 over two
# bins), then as many silver as still fit (sizes 3, 3, 6 -> two), then the least total size used.
ITEMS = [(4, "gold"), (4, "gold"), (5, "gold"), (3, "silver"), (3, "silver"), (6, "silver"), (2, "bronze")]
CAP = [10, 10]


def _build(b):
    x = {(i, k): b.int_var(0, 1, f"x_{i}_{k}") for i in range(len(ITEMS)) for k in range(len(CAP))}
    for i in range(len(ITEMS)):
        b.add_le(b.linear([x[i, k] for k in range(len(CAP))], [1] * len(CAP)), 1)
    for k, cap in enumerate(CAP):
        b.add_le(b.linear([x[i, k] for i in range(len(ITEMS))], [s for s, _ in ITEMS]), cap)

    def count(tier):
        vs = [x[i, k] for i, (_, t) in enumerate(ITEMS) if t == tier for k in range(len(CAP))]
        return b.linear(vs, [1] * len(vs)), len(vs) // len(CAP)

    tiers = []
    for t in ("gold", "silver", "bronze"):
        expr, n = count(t)
        tiers.append(Tier(t, expr, "max", 0, n))
    used = b.linear(list(x.values()), [ITEMS[i][0] for i, _ in x])
    tiers.append(Tier("size", used, "min", 0, sum(CAP)))
    return tiers


def _solve(engine, staged, solver="highs"):
    if engine == "cpsat":
        b = CpSatBuilder(Deadline(10))
        tiers = _build(b)
        backend = CpSatBackend(b.model, SolveOptions(workers=1), 1)
    else:
        b = PulpBuilder(Deadline(10))
        tiers = _build(b)
        backend = PulpBackend(b.problem, SolveOptions(), solver)
    if staged:
        backend.max_weight = 1  # forces tier by tier
    return solve_lexicographic(backend, tiers, Deadline(10), 0.0)


EXPECTED = {"gold": 3, "silver": 2, "bronze": 0, "size": 19}


@pytest.mark.parametrize(
    "engine,staged,solver",
    [
        ("cpsat", False, None),
        ("cpsat", True, None),
        ("ilp", False, "highs"),
        ("ilp", True, "highs"),
        ("ilp", True, "cbc"),
    ],
)
def test_lexicographic_optimum_agrees(engine, staged, solver):
    out = _solve(engine, staged, solver)
    assert out.status == "optimal"
    assert out.objective == EXPECTED
    assert out.bound == EXPECTED


def test_weights_separate_the_tiers():
    tiers = [Tier("a", None, "max", 0, 3), Tier("b", None, "max", 0, 9), Tier("c", None, "min", 2, 5)]
    w = weights(tiers)
    assert w == [40, 4, 1]
    # one unit of a tier outweighs everything below it
    assert w[0] > w[1] * 9 + w[2] * 3 and w[1] > w[2] * 3
