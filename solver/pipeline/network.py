"""Transfer times between devices over the best path, and classes of interchangeable devices.

A transfer of x bytes over a path P takes x * 8 / bw(P) + lat(P), with bw(P) the narrowest link and
lat(P) the summed latencies. The best path depends on x, so each ordered device pair gets its options:
for every distinct link bandwidth w, the least-latency path using only links of at least w. The least
of x * 8 / w + lat_w over the options is the exact best-path time (the best path's narrowest link is one
of the thresholds, and the threshold's least-latency path is no slower).

Devices are interchangeable when they have the same type and memory and swapping them changes no
transfer time: classes are found by colour refinement on the pairwise options, then checked to be
uniform blocks (every pair between two classes has the same options), splitting any that are not.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import networkx as nx
import numpy as np

from models.pipeline import PipelineInstance

Options = tuple[tuple[float, float], ...]  # ((bandwidth_gbps, latency_ms), ...) non-dominated, bw desc
MS_PER_BYTE_GBPS = 8e-6  # bytes * 8 / (gbps * 1e9) seconds = bytes * 8e-6 / gbps milliseconds


def transfer_ms(nbytes: np.ndarray | float, options: Options) -> np.ndarray:
    """Best-path time (ms) of sending nbytes with the given options; inf when there is no path."""
    x = np.asarray(nbytes, dtype=np.float64)
    best = np.full(x.shape, np.inf)
    for bw, lat in options:
        best = np.minimum(best, x * MS_PER_BYTE_GBPS / bw + lat)
    return best


def pair_options(inst: PipelineInstance) -> dict[tuple[int, int], Options]:
    """Options of every ordered pair of distinct devices that has a path."""
    d = len(inst.devices)
    net = inst.network
    scalar = isinstance(net.bandwidth_gbps, int | float) and isinstance(net.latency_ms, int | float)
    if net.links is None and scalar:  # one link per pair, nothing better via others
        opt: Options = ((float(net.bandwidth_gbps), float(net.latency_ms)),)  # type: ignore[arg-type]
        return {(i, j): opt for i in range(d) for j in range(d) if i != j}
    edges = _edges(inst)
    out: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for w in sorted({bw for _, _, bw, _ in edges}, reverse=True):
        g = nx.DiGraph()
        g.add_nodes_from(range(d))
        for u, v, bw, lat in edges:
            if bw >= w and (not g.has_edge(u, v) or g[u][v]["lat"] > lat):
                g.add_edge(u, v, lat=lat)
        for u, dist in nx.all_pairs_dijkstra_path_length(g, weight="lat"):
            for v, lat in dist.items():
                if u == v:
                    continue
                opts = out[(u, v)]
                if not opts or lat < opts[-1][1]:  # a narrower threshold only helps with less latency
                    opts.append((float(w), float(lat)))
    return {pair: tuple(opts) for pair, opts in out.items()}


def _edges(inst: PipelineInstance) -> list[tuple[int, int, float, float]]:
    d = len(inst.devices)
    net = inst.network
    if net.links is not None:
        index = {dev.name: i for i, dev in enumerate(inst.devices)}
        out = []
        for link in net.links:
            a, b = index[link.a], index[link.b]
            out.append((a, b, link.bandwidth_gbps, link.latency_ms))
            out.append((b, a, link.bandwidth_gbps, link.latency_ms))
        return out
    bw, lat = net.bandwidth_gbps, net.latency_ms
    assert bw is not None
    edges = []
    for i in range(d):
        for j in range(d):
            if i == j:
                continue
            width = float(bw if isinstance(bw, int | float) else bw[i][j])
            delay = float(lat if isinstance(lat, int | float) else lat[i][j])
            if width > 0:
                edges.append((i, j, width, delay))
    return edges


def classes(inst: PipelineInstance, options: dict[tuple[int, int], Options]) -> list[list[int]]:
    """Partition of the devices into interchangeable classes, each in instance order, ordered by their
    first device."""
    d = len(inst.devices)
    keys: dict[tuple[str, int], int] = {}
    color: list[int] = []
    for dev in inst.devices:
        key = (dev.type, dev.memory_bytes)
        color.append(keys.setdefault(key, len(keys)))
    uniform = len({o for o in options.values()}) <= 1 and len(options) == d * (d - 1)
    if not uniform:
        color = _refine(color, options)
    while True:
        groups = _groups(color)
        bad = _non_uniform(groups, options)
        if not bad:
            return groups
        nxt = max(color) + 1
        for g in bad:  # split into singletons, then refine again
            for i in groups[g][1:]:
                color[i] = nxt
                nxt += 1
        color = _refine(color, options)


def _refine(color: list[int], options: dict[tuple[int, int], Options]) -> list[int]:
    d = len(color)
    while True:
        sigs = []
        for i in range(d):
            around = sorted(
                (color[j], options.get((i, j), ()), options.get((j, i), ())) for j in range(d) if j != i
            )
            sigs.append((color[i], tuple(around)))
        ids: dict[object, int] = {}
        new = [ids.setdefault(s, len(ids)) for s in sigs]
        if len(ids) == len(set(color)):
            return new
        color = new


def _groups(color: Sequence[int]) -> list[list[int]]:
    by: dict[int, list[int]] = {}
    for i, c in enumerate(color):
        by.setdefault(c, []).append(i)
    return sorted(by.values(), key=lambda g: g[0])


def _non_uniform(groups: list[list[int]], options: dict[tuple[int, int], Options]) -> list[int]:
    bad = set()
    for x, gx in enumerate(groups):
        for y, gy in enumerate(groups):
            seen = {options.get((i, j), ()) for i in gx for j in gy if i != j}
            if len(seen) > 1:
                bad.add(x if len(gx) > 1 else y)
    return sorted(bad)
