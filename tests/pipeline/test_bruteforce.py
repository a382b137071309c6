"""The exhaustive search the engines are held to: it enumerates exactly the placements of the contract."""

from __future__ import annotations

import math

from solver.pipeline.problem import build
from tests.pipeline.bruteforce import best, feasible, front, placements
from tests.pipeline.conftest import tiny


def test_enumerates_every_placement_once():
    inst = tiny(3)
    inst.max_stages = None
    p = build(inst)
    seen = {tuple(pl) for pl in placements(p)}
    # compositions of L into k parts times injective device sequences of length k
    expected = sum(math.comb(p.L - 1, k - 1) * math.perm(p.D, k) for k in range(1, min(p.L, p.D) + 1))
    assert len(seen) == expected


def test_best_and_front_are_consistent():
    for seed in range(10):
        p = build(tiny(seed))
        evs = feasible(p)
        if not evs:
            assert best(p, "throughput") is None and front(p) == []
            continue
        b, lat = best(p, "throughput"), best(p, "latency")
        pts = front(p)
        assert pts[0].bottleneck == b.bottleneck and pts[-1].latency == lat.latency
        assert all(
            x.bottleneck < y.bottleneck and x.latency > y.latency for x, y in zip(pts, pts[1:], strict=False)
        )
