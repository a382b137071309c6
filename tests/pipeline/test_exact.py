"""Every exact engine equals exhaustive search on tiny instances: the least bottleneck (then latency), the
least latency (then bottleneck), and the whole Pareto front, each proven; infeasible ones are proven so.
Each with the DPs as solve() uses them and with the CP-SAT or ILP arc model alone."""

from __future__ import annotations

import math

import pytest

import solver
from solver.pipeline import bottleneck as bn
from solver.pipeline import exact, heuristic, latency_dp
from solver.pipeline.generate import synthetic
from solver.pipeline.plans import close, evaluate, to_stage_plan
from solver.pipeline.problem import build
from tests.pipeline.bruteforce import best, feasible, front
from tests.pipeline.conftest import exact_alone, request, tiny

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
    ran = 0
    for seed in SEEDS:
        inst = tiny(seed, objective)
        ref = best(build(inst), objective)
        r = _solve(inst, engine)
        ran += r.engine == engine
        if ref is None:
            assert r.status == "infeasible" and r.plan is None and r.explanations, seed
            continue
        assert r.status == "optimal", (seed, r.status, r.warnings)
        key = ref.key(objective)
        assert close(r.objective[names[0]], key[0]) and close(r.objective[names[1]], key[1]), (
            seed,
            r.objective,
        )
    assert ran >= 10  # the engine's plan is the answer, not a baseline's met by the cheap bound


@pytest.mark.parametrize("engine", ["cpsat", "ilp"])
def test_pareto_front_matches_exhaustive_search(engine, formulation):
    ran = 0
    for seed in SEEDS:
        inst = tiny(seed, "pareto")
        ref = front(build(inst))
        r = _solve(inst, engine)
        ran += r.engine == engine
        if not ref:
            assert r.status == "infeasible", seed
            continue
        assert r.status == "optimal" and r.plan.complete, (seed, r.status, r.warnings)
        got = [(sp.objective.bottleneck_ms, sp.objective.latency_ms) for sp in r.plan.plans]
        assert len(got) == len(ref), seed
        for (b, lat), e in zip(got, ref, strict=True):
            assert close(b, e.bottleneck) and close(lat, e.latency), seed
    assert ran >= 10


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


def test_a_dp_stopped_by_the_deadline_hands_back_the_incumbent_and_a_bound():
    """The DPs stop at the deadline less the reserve; what the engine had (here: its hint) and the lower
    bound come back instead of nothing."""
    inst = synthetic(layers=100, counts=(8, 8), seed=0)
    p = build(inst)
    start = heuristic.greedy(p).chosen
    out = exact_alone(p, time_limit_s=0.0501, hint=to_stage_plan(p, start.placement))  # reserve: 0.05 s
    assert out.plan is not None and not out.proven_optimal
    assert any(n.startswith("bottleneck DP stopped") for n in out.notes), out.notes
    assert out.plan.objective.bottleneck_ms == pytest.approx(start.bottleneck, rel=1e-12)
    assert 0 < out.bound["bottleneck_ms"] <= start.bottleneck


def test_the_bitset_dp_is_skipped_when_its_table_would_not_fit(monkeypatch):
    """Class-dependent cuts: the reach DP's boolean table is capped (MAX_BITSET); above it the arc model
    proves the optimum."""
    monkeypatch.setattr(bn, "MAX_BITSET", 10)
    for seed in (2, 3, 5):
        inst = synthetic(
            layers=5, counts=(2, 2), seed=seed, network="racks", bandwidth_gbps=0.5, memory_share=0.6
        )
        p = build(inst)
        assert p.uniform_cut is None and math.isinf(bn.work_estimate(p, bn.lattice(p)))
        r = _solve(inst, "cpsat")
        assert r.status == "optimal" and "cpsat" in r.method, (r.method, r.warnings)
        assert any("table would exceed 10 cells" in w for w in r.warnings), r.warnings
        assert close(r.objective["bottleneck_ms"], best(p, "throughput").bottleneck)
