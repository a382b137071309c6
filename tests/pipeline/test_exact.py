"""Every exact engine equals exhaustive search on tiny instances: the least bottleneck (then latency), the
least latency (then bottleneck), and the whole Pareto front, each proven; infeasible ones are proven so.
Each with the DPs as solve() uses them and with the CP-SAT or ILP arc model alone."""

from __future__ import annotations

import math

import pytest

import solver
from solver.pipeline import bottleneck as bn
from solver.pipeline import exact, latency_dp
from solver.pipeline.generate import synthetic
from solver.pipeline.plans import close, evaluate
from solver.pipeline.problem import build
from tests.pipeline.bruteforce import best, feasible, front
from tests.pipeline.conftest import request, tiny

SEEDS = range(24)


@pytest.fixture(params=["dp", "arcs"])
def formulation(request, monkeypatch):
    """`dp`: as solve() runs (the DPs where they fit); `arcs`: the DPs off, so the CP-SAT or ILP arc
    model proves every tier and every sweep step on its own."""
    if request.param == "arcs":
        monkeypatch.setattr(exact, "DP_RATE", 0.0)
        monkeypatch.setattr(latency_dp, "MAX_CELLS", 0)
    return request.param


def _solve(inst, engine):
    r = solver.solve(request(inst, engine=engine, time_limit_s=5.0))
    if r.plan is not None:
        report = solver.check("pipeline", inst.model_dump(), r.plan)
        assert report.ok, report.violations
        assert report.objective == r.objective
    return r


@pytest.mark.parametrize("engine", ["cpsat", "ilp"])
@pytest.mark.parametrize("objective", ["throughput", "latency"])
def test_single_objectives_match_exhaustive_search(engine, objective, formulation):
    names = ("latency_ms", "bottleneck_ms") if objective == "latency" else ("bottleneck_ms", "latency_ms")
    for seed in SEEDS:
        inst = tiny(seed, objective)
        ref = best(build(inst), objective)
        r = _solve(inst, engine)
        if ref is None:
            assert r.status == "infeasible" and r.plan is None and r.explanations, seed
            continue
        assert r.status == "optimal", (seed, r.status, r.warnings)
        key = ref.key(objective)
        assert close(r.objective[names[0]], key[0]) and close(r.objective[names[1]], key[1]), (
            seed,
            r.objective,
        )


@pytest.mark.parametrize("engine", ["cpsat", "ilp"])
def test_pareto_front_matches_exhaustive_search(engine, formulation):
    for seed in SEEDS:
        inst = tiny(seed, "pareto")
        ref = front(build(inst))
        r = _solve(inst, engine)
        if not ref:
            assert r.status == "infeasible", seed
            continue
        assert r.status == "optimal" and r.plan.complete, (seed, r.status, r.warnings)
        got = [(sp.objective.bottleneck_ms, sp.objective.latency_ms) for sp in r.plan.plans]
        assert len(got) == len(ref), seed
        for (b, lat), e in zip(got, ref, strict=True):
            assert close(b, e.bottleneck) and close(lat, e.latency), seed


def test_reach_dp_is_exact_on_its_own():
    """The parametric search alone (no engine) finds the least bottleneck and a plan that has it."""
    for seed in range(60):
        p = build(tiny(seed))
        ref = best(p, "throughput")
        lat = bn.lattice(p)
        res = bn.least_bottleneck(p, bn.Reach(p, lat), math.inf, 0.0)
        if ref is None:
            assert res.bottleneck is None
            continue
        e = evaluate(p, res.placement)
        assert e.feasible and close(e.bottleneck, ref.bottleneck) and close(res.bottleneck, ref.bottleneck)


def test_latency_dp_is_exact_on_its_own():
    """The least latency under every cap a plan can have (and none), against exhaustive search."""
    for seed in range(40):
        p = build(tiny(seed))
        plans = feasible(p)
        dp = latency_dp.LatencyDP(p, bn.lattice(p))
        caps = sorted({e.bottleneck for e in plans})
        for cap in [*caps[:: max(1, len(caps) // 5)], math.inf]:
            within = [e for e in plans if e.bottleneck <= cap]
            placement = dp.solve(cap)
            if not within:
                assert placement is None, seed
                continue
            e = evaluate(p, placement)
            assert e.feasible and e.bottleneck <= cap, seed
            assert close(e.latency, min(x.latency for x in within)), (seed, cap)


def test_relaxed_cuts_give_a_lower_bound_and_sometimes_the_optimum():
    """Every cut at its least over the class pairs: the relaxed least bottleneck is a lower bound."""
    met = 0
    for seed in range(60):
        p = build(tiny(seed))
        ref = best(p, "throughput")
        if p.uniform_cut is not None or ref is None:
            continue
        res = bn.least_bottleneck(p, bn.Reach(p, bn.lattice(p), cut=p.min_cut), math.inf, 0.0)
        assert res.bottleneck is not None and res.bottleneck <= ref.bottleneck * (1 + 1e-12), seed
        met += close(res.bottleneck, ref.bottleneck)
    assert met > 0


@pytest.mark.parametrize("seed", [2, 3, 5])
def test_a_slow_uplink_the_relaxation_misses_is_still_solved_exactly(seed):
    """Two racks joined by a slow uplink: the relaxation's plan crosses it, so the exact DP takes over."""
    inst = synthetic(
        layers=5, counts=(2, 2), seed=seed, network="racks", bandwidth_gbps=0.5, memory_share=0.6
    )
    p = build(inst)
    ref = best(p, "throughput")
    relaxed = bn.least_bottleneck(p, bn.Reach(p, bn.lattice(p), cut=p.min_cut), math.inf, 0.0)
    assert relaxed.bottleneck < ref.bottleneck * (1 - 1e-9)
    r = _solve(inst, "cpsat")
    assert r.status == "optimal" and r.method.startswith("reach-dp")
    assert close(r.objective["bottleneck_ms"], ref.bottleneck)
