"""Transfers take the best path (the least bytes / narrowest link + summed latency over every simple
path), and devices are grouped into classes only when swapping them changes no transfer."""

from __future__ import annotations

import itertools
import math
import random

import networkx as nx
import pytest

from models.pipeline import Device, Layer, Link, Network, PipelineInstance
from solver.pipeline import network
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


def brute(inst: PipelineInstance, u: int, v: int, nbytes: float) -> float:
    g = nx.Graph()
    g.add_nodes_from(range(len(inst.devices)))
    index = {d.name: i for i, d in enumerate(inst.devices)}
    assert inst.network.links is not None
    for link in inst.network.links:
        g.add_edge(index[link.a], index[link.b], bw=link.bandwidth_gbps, lat=link.latency_ms)
    best = math.inf
    for path in nx.all_simple_paths(g, u, v):
        hops = list(zip(path, path[1:], strict=False))
        bw = min(g[a][b]["bw"] for a, b in hops)
        lat = sum(g[a][b]["lat"] for a, b in hops)
        best = min(best, nbytes * 8 / (bw * 1e9) * 1e3 + lat)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_best_path_equals_enumeration_of_simple_paths(seed):
    inst = random_links(seed, 6)
    options = network.pair_options(inst)
    for u, v in itertools.permutations(range(6), 2):
        for nbytes in (0, 1e5, 1e7, 1e9):
            expected = brute(inst, u, v, nbytes)
            got = float(network.transfer_ms(nbytes, options[(u, v)])) if (u, v) in options else math.inf
            assert got == pytest.approx(expected, rel=1e-12), (u, v, nbytes)


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
