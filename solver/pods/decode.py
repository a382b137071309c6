"""Between plans and the aggregated model: a plan as a hint, a solution as a plan.

Pods of a class are interchangeable, so decoding chooses which ones: staying pods are the first
by name; displaced running pods fill a class's new slots before pending ones (a move beats an
eviction), and pending pods are taken in arrival order. A final pass places any pod left out that
now fits, so a decoded plan is never worse than the solution it came from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from solver.pods.cluster import FULL, ClusterState, pick_devices
from solver.pods.formulation import Model, symmetry_weights


def hint(model: Model, node_of: np.ndarray, gpus_of: list[list[int]]) -> dict[Any, int]:
    """Values for every variable reproducing a plan, permuted to respect the symmetry ordering."""
    agg = model.agg
    arr = agg.arr
    values: dict[Any, int] = {}
    stays = np.zeros(arr.n_pods, dtype=bool)
    for s, grp in enumerate(agg.groups):
        k = 0
        for j in grp.pods:
            if node_of[j] == grp.node and sorted(gpus_of[j]) == sorted(arr.origin_gpus[j]):
                k += 1
                stays[j] = True
        values[model.stay[s]] = k
    fixed = (arr.origin >= 0) & ~arr.movable
    x: dict[tuple[int, int], int] = defaultdict(int)
    dev_whole: dict[tuple[int, int], int] = defaultdict(int)
    share: dict[tuple[int, int, int], int] = defaultdict(int)
    pp: dict[int, int] = defaultdict(int)
    mv: dict[int, int] = defaultdict(int)
    for j in map(int, np.flatnonzero(node_of >= 0)):
        n, c = int(node_of[j]), int(agg.cls_of[j])
        if fixed[j]:
            continue
        if arr.whole[j] and n in model.device_nodes:
            for d in gpus_of[j]:
                dev_whole[(n, d)] = 1
        if stays[j]:
            continue
        x[(c, n)] += 1
        if arr.origin[j] >= 0:
            mv[c] += 1
        else:
            pp[c] += 1
        if arr.milli[j] and n in model.device_nodes:
            share[(int(arr.milli[j]), n, gpus_of[j][0])] += 1
    _permute_nodes(model, x, dev_whole, share)
    _permute_devices(model, dev_whole, share)
    for xkey, var in model.x.items():
        values[var] = x.get(xkey, 0)
    for wkey, var in model.whole_dev.items():
        values[var] = dev_whole.get(wkey, 0)
    for skey, var in model.share.items():
        values[var] = share.get(skey, 0)
    for c, var in model.placed_pending.items():
        values[var] = pp.get(c, 0)
    for c, var in model.moved.items():
        values[var] = mv.get(c, 0)
    return values


def _rekey(table: dict, f: Callable[[tuple], tuple]) -> None:
    items = list(table.items())
    table.clear()
    table.update((f(k), v) for k, v in items)


def _permute_nodes(model: Model, x: dict, dev_whole: dict, share: dict) -> None:
    """Give identical empty nodes their contents in non-increasing load order, as the model wants."""
    weight = symmetry_weights(model.agg)
    load: dict[int, int] = defaultdict(int)
    for (c, n), k in x.items():
        load[n] += int(weight[c]) * k
    remap: dict[int, int] = {}
    for nodes in model.sym_nodes:
        order = sorted(nodes, key=lambda n: -load[n])  # stable: ties keep the model's order
        remap.update((old, new) for old, new in zip(order, nodes, strict=True) if old != new)
    if remap:
        _rekey(x, lambda k: (k[0], remap.get(k[1], k[1])))
        _rekey(dev_whole, lambda k: (remap.get(k[0], k[0]), k[1]))
        _rekey(share, lambda k: (k[0], remap.get(k[1], k[1]), k[2]))


def _permute_devices(model: Model, dev_whole: dict, share: dict) -> None:
    """Interchangeable devices of a node: whole ones first, then by decreasing shared load."""
    key: dict[tuple[int, int], int] = defaultdict(int)
    for (n, d), v in dev_whole.items():
        key[(n, d)] += (FULL + 1) * v
    for (size, n, d), k in share.items():
        key[(n, d)] += size * k
    remap: dict[tuple[int, int], tuple[int, int]] = {}
    for n, devs in model.free_devices.items():
        order = sorted(devs, key=lambda d: -key[(n, d)])
        remap.update(((n, old), (n, new)) for old, new in zip(order, devs, strict=True) if old != new)
    if remap:
        _rekey(dev_whole, lambda k: remap.get(k, k))
        _rekey(share, lambda k: (k[0], *remap.get((k[1], k[2]), (k[1], k[2]))))


def decode(model: Model, value: Callable[[Any], float]) -> ClusterState:
    agg = model.agg
    arr = agg.arr
    st = ClusterState(arr, with_running=False)
    stuck = set(agg.stuck)
    for j in map(int, np.flatnonzero((arr.origin >= 0) & ~arr.movable)):
        if j not in stuck:
            st.place(j, int(arr.origin[j]), arr.origin_gpus[j])
    displaced: dict[int, list[int]] = defaultdict(list)
    for s, grp in enumerate(agg.groups):
        k = round(value(model.stay[s]))
        for j in grp.pods[:k]:
            st.place(j, grp.node, arr.origin_gpus[j])
        displaced[grp.cls] += grp.pods[k:]
    # slots: (class, node, devices or None to pick at placement)
    slots: dict[int, list[tuple[int, list[int] | None]]] = defaultdict(list)
    for n in sorted(model.device_nodes):
        held = {d for j in st.on_node[n] for d in st.gpus_of[j] if arr.whole[j]}
        idle = [
            d
            for d in range(int(arr.devices[n]))
            if (n, d) in model.whole_dev and round(value(model.whole_dev[(n, d)])) and d not in held
        ]
        for (c, nn), var in model.x.items():
            if nn != n or not agg.classes[c].whole:
                continue
            for _ in range(round(value(var))):
                k = agg.classes[c].whole
                slots[c].append((n, idle[:k]))
                idle = idle[k:]
    devices_of_size: dict[tuple[int, int], list[int]] = defaultdict(
        list
    )  # (milli, node) -> a device per share
    for (size, n, d), var in sorted(model.share.items()):
        devices_of_size[(size, n)] += [d] * round(value(var))
    for (c, n), var in model.x.items():
        size = agg.classes[c].milli
        if size and n in model.device_nodes:
            free = devices_of_size[(size, n)]
            k = min(round(value(var)), len(free))
            slots[c].extend((n, [d]) for d in free[:k])
            del free[:k]
    for (c, n), var in model.x.items():
        cls = agg.classes[c]
        if n in model.device_nodes and (cls.whole or cls.milli):
            continue
        slots[c].extend((n, None) for _ in range(round(value(var))))
    for c, cls in enumerate(agg.classes):
        movers = sorted(displaced.get(c, []), key=lambda j: arr.inst.pods[j].name)
        queue_pending = list(cls.pending)
        for n, devs in slots.get(c, []):
            mover = next((v for v in movers if arr.origin[v] != n), None)
            if mover is not None:
                movers.remove(mover)
                j = mover
            elif queue_pending:
                j = queue_pending.pop(0)
            else:
                break
            if devs is None:
                devs = pick_devices(st.free_dev[n], cls.whole, cls.milli)
            if devs is None or len(devs) != (cls.whole or (1 if cls.milli else 0)):
                continue
            st.place(j, n, devs)
    return st


def fill(st: ClusterState) -> ClusterState:
    """Place every pod left out that fits now, highest priority first (evicted pods count as moves)."""
    arr = st.arr
    cap = arr.inst.policy.max_moves
    running = arr.origin >= 0
    moved = int(np.count_nonzero(running & (st.node_of >= 0) & (st.node_of != arr.origin)))
    moves_left = None if cap is None else cap - moved
    out = np.flatnonzero(st.node_of < 0)
    for j in sorted(out.tolist(), key=lambda j: (-int(arr.prio[j]), j)):
        running = arr.origin[j] >= 0
        if running and not arr.movable[j]:
            continue
        idx = np.flatnonzero(st.fits(j))
        if not len(idx):
            continue
        if running:  # back home only on the devices it holds there; otherwise elsewhere (a move)
            home = int(arr.origin[j])
            devs = list(arr.origin_gpus[j])
            if (
                home in idx
                and arr.stay_ok[j]
                and all(st.free_dev[home, d] >= (FULL if arr.whole[j] else arr.milli[j]) for d in devs)
            ):
                st.place(j, home, devs)
                continue
            idx = idx[idx != home]
            if not len(idx) or (moves_left is not None and moves_left <= 0):
                continue
        n = int(idx[np.argmin(arr.name_rank[idx])])
        st.place(j, n)
        if running and moves_left is not None:
            moves_left -= 1
    return st
