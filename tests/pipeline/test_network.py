"""Transfers take the best path (the least bytes / narrowest link + summed latency over every simple
path), in the engines and in the checker, and devices are grouped into classes only when swapping them
changes no transfer."""

from __future__ import annotations

import itertools
import math
import random
import time

import networkx as nx
import pytest

import solver
from models.pipeline import Device, Layer, Link, Network, PipelineInstance
from solver.pipeline import check, network
from solver.pipeline.generate import synthetic
from solver.pipeline.problem import build


def random_links(seed: int, n: int) -> PipelineInstance:
    rng = random.Random(seed)
    devices = [Device(name=f"d{i}", type="t", memory_bytes=1) for i in range(n)]
    links = []
    for a, b in itertools.combinations(range(n), 2):
        if rng.random() < 0.5:
            links.append(
                Link(
                    a=f"d{a}",
                    b=f"d{b}",
                    bandwidth_gbps=rng.choice([1, 10, 100]),
                    latency_ms=rng.choice([0, 0.1, 2]),
                )
            )
    return PipelineInstance(
        layers=[Layer(name="l", time_ms={"t": 1})], devices=devices, network=Network(links=links)
    )


def random_matrix(seed: int, n: int) -> PipelineInstance:
    """A directed bandwidth matrix with (nearly) every entry distinct, some missing, latencies too."""
    rng = random.Random(seed)
    bw = [
        [0.0 if i == j or rng.random() < 0.3 else rng.uniform(0.5, 100) for j in range(n)] for i in range(n)
    ]
    lat = [[rng.choice([0.0, rng.uniform(0, 2)]) for _ in range(n)] for _ in range(n)]
    return PipelineInstance(
        layers=[Layer(name="l", time_ms={"t": 1})],
        devices=[Device(name=f"d{i}", type="t", memory_bytes=1) for i in range(n)],
        network=Network(bandwidth_gbps=bw, latency_ms=lat),
    )


def brute(inst: PipelineInstance, u: int, v: int, nbytes: float) -> float:
    """The least bytes / narrowest link + summed latency over every simple path (multi-edges kept)."""
    g = nx.MultiDiGraph()
    g.add_nodes_from(range(len(inst.devices)))
    index = {d.name: i for i, d in enumerate(inst.devices)}
    net = inst.network
    if net.links is not None:
        for link in net.links:
            for a, b in ((link.a, link.b), (link.b, link.a)):
                g.add_edge(index[a], index[b], bw=link.bandwidth_gbps, lat=link.latency_ms)
    else:
        assert isinstance(net.bandwidth_gbps, list) and isinstance(net.latency_ms, list)
        for a, row in enumerate(net.bandwidth_gbps):
            for b, w in enumerate(row):
                if a != b and w > 0:
                    g.add_edge(a, b, bw=w, lat=net.latency_ms[a][b])
    best = math.inf
    for path in nx.all_simple_edge_paths(g, u, v):
        bw = min(g.edges[e]["bw"] for e in path)
        lat = sum(g.edges[e]["lat"] for e in path)
        best = min(best, nbytes * 8 / (bw * 1e9) * 1e3 + lat)
    return best


@pytest.mark.parametrize("shape", ["links", "matrix"])
@pytest.mark.parametrize("seed", range(6))
def test_best_path_equals_enumeration_of_simple_paths(seed, shape):
    """The engines' path options and the checker's own search, each against every simple path."""
    n = 6 if shape == "links" else 5
    inst = random_links(seed, n) if shape == "links" else random_matrix(seed, n)
    options = network.pair_options(inst)
    oracle = check._Net(inst)
    names = [d.name for d in inst.devices]
    for u, v in itertools.permutations(range(n), 2):
        for nbytes in (0, 1e5, 1e7, 1e9):
            expected = brute(inst, u, v, nbytes)
            got = float(network.transfer_ms(nbytes, options[(u, v)])) if (u, v) in options else math.inf
            assert got == pytest.approx(expected, rel=1e-12), (u, v, nbytes)
            assert oracle.ms(names[u], names[v], nbytes) == pytest.approx(expected, rel=1e-12), (u, v)


def test_many_distinct_bandwidths_are_solved_within_the_budget():
    """A 32-device matrix of distinct bandwidths (992 widths): paths, classes, baselines, the exact engine
    and the checker all within the time limit (the per-width searches took 10 s here)."""
    rng = random.Random(0)
    n = 32
    bw = [[0 if i == j else round(rng.uniform(1, 100), 3) for j in range(n)] for i in range(n)]
    inst = PipelineInstance(
        layers=[Layer(name=f"l{k}", time_ms={"t": 1.0}, activation_bytes=10**6) for k in range(20)],
        devices=[Device(name=f"d{i}", type="t", memory_bytes=10**9) for i in range(n)],
        network=Network(bandwidth_gbps=bw, latency_ms=0.01),
    )
    t0 = time.monotonic()
    r = solver.solve(
        {"kind": "pipeline", "instance": inst.model_dump(mode="json"), "options": {"time_limit_s": 0.5}},
        started=t0,
    )
    assert time.monotonic() - t0 <= 0.55 and r.plan is not None
    assert solver.check("pipeline", inst.model_dump(), r.plan).ok


def test_one_network_makes_classes_of_type_and_memory():
    p = build(synthetic(layers=10, counts=(3, 2), seed=0))
    assert [c.count for c in p.classes] == [3, 2] and p.uniform_cut is not None


def test_racks_split_classes_where_transfers_differ():
    inst = synthetic(layers=10, counts=(2, 2), seed=0, network="racks")
    inst.network.links[-1].latency_ms = 0.0  # the uplink's ends are no longer special
    inst.network.links.append(Link(a="v100-1", b="a100-1", bandwidth_gbps=1.0, latency_ms=5.0))
    p = build(inst)
    # every pair of devices within a class has the same transfer options to every other device
    for cx in p.classes:
        for cy in p.classes:
            seen = {p.options.get((a, b)) for a in cx.devices for b in cy.devices if a != b}
            assert len(seen) <= 1
    assert p.uniform_cut is None and sum(c.count for c in p.classes) == 4


def test_matrix_network_with_missing_links_routes_through_others():
    devices = [Device(name=f"d{i}", type="t", memory_bytes=1) for i in range(3)]
    bw = [[0, 10, 0], [10, 0, 1], [0, 1, 0]]
    inst = PipelineInstance(
        layers=[Layer(name="l", time_ms={"t": 1})],
        devices=devices,
        network=Network(bandwidth_gbps=bw, latency_ms=0.5),
    )
    options = network.pair_options(inst)
    assert options[(0, 2)] == ((1.0, 1.0),)  # via d1: narrowest 1 Gbps, two hops of 0.5 ms
    assert options[(0, 1)] == ((10.0, 0.5),)
