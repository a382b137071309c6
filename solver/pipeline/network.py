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
    opt = _one_link(inst)
    if opt is not None:  # one link per pair, nothing better via others
        return {(i, j): opt for i in range(d) for j in range(d) if i != j}
    by_width: dict[float, list[tuple[int, int, float]]] = defaultdict(list)
    for u, v, bw, lat in _edges(inst):
        by_width[float(bw)].append((u, v, float(lat)))
    # least latency between every two devices over the links at least w wide, for w from the widest
    # down: links enter one width at a time and the distances are updated in place (one edge: through
    # it or not; a width with many links: a Floyd-Warshall pass), so any number of distinct widths costs
    # at most (links) x devices^2 operations
    dist = np.full((d, d), np.inf)
    np.fill_diagonal(dist, 0.0)
    out: dict[tuple[int, int], list[tuple[float, float]]] = defaultdict(list)
    for w in sorted(by_width, reverse=True):
        before = dist.copy()
        group = by_width[w]
        if len(group) > d:
            for u, v, lat in group:
                dist[u, v] = min(dist[u, v], lat)
            for k in range(d):
                np.minimum(dist, dist[:, k : k + 1] + dist[k : k + 1, :], out=dist)
        else:
            for u, v, lat in group:
                if lat < dist[u, v]:
                    np.minimum(dist, dist[:, u : u + 1] + lat + dist[v : v + 1, :], out=dist)
        # a narrower threshold is an option only where it lowers the latency
        us, vs = np.nonzero(dist < before)
        for u, v, lat in zip(us.tolist(), vs.tolist(), dist[us, vs].tolist(), strict=True):
            out[(u, v)].append((w, lat))
    return {pair: tuple(opts) for pair, opts in out.items()}


def _one_link(inst: PipelineInstance) -> Options | None:
    """The options of every pair when one bandwidth and one latency join every two devices."""
    net = inst.network
    bw, lat = net.bandwidth_gbps, net.latency_ms
    if net.links is None and isinstance(bw, int | float) and isinstance(lat, int | float):
        return ((float(bw), float(lat)),)
    return None


def slowest_bound_ms(inst: PipelineInstance, nbytes: float) -> float:
    """At least the slowest finite best-path transfer of nbytes between two distinct devices (the
    hypervolume's reference): exact with one bandwidth for every pair; otherwise a path of at most
    devices - 1 links, none narrower than the narrowest link nor with more latency than the slowest."""
    d = len(inst.devices)
    if d < 2:
        return 0.0
    opt = _one_link(inst)
    if opt is not None:
        return float(transfer_ms(nbytes, opt))
    edges = _edges(inst)
    if not edges:
        return 0.0
    narrowest = min(bw for _, _, bw, _ in edges)
    slowest = max(lat for _, _, _, lat in edges)
    return float(nbytes) * MS_PER_BYTE_GBPS / narrowest + (d - 1) * slowest


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
