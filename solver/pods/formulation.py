"""The pods model, written once for CP-SAT and PuLP: aggregated, symmetry-broken, lexicographic.

Identical pods (same priority, requests, GPU need, rules and anti-affinity group) form a class;
the model decides how many of a class go to each node, not which pod. Running pods are kept per
(class, node, devices) group with a "how many stay" variable; the pods of a class that do not
stay may be moved (re-placed like pending pods) or evicted. GPU devices are modelled one by one
only on nodes where a GPU share (gpu_milli) could land; elsewhere a count of idle devices is
enough. Identical empty nodes, and identical free devices, are ordered by load so the solver
does not search their permutations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from models.pods import Node
from solver.engine.lexicographic import Tier
from solver.engine.modeling import ModelBuilder
from solver.pods.cluster import FULL, Arrays
from solver.pods.plans import EVICTIONS, MOVES, tier_name
from solver.pods.rules import spec_key


@dataclass
class PodClass:
    prio: int
    req: np.ndarray
    whole: int
    milli: int
    group: int  # anti-affinity group id, -1 when the class has none
    pending: list[int]  # pod indices in arrival order
    running: list[int] = field(default_factory=list)  # RunningGroup indices
    eligible: np.ndarray | None = None  # nodes a new pod of the class may go to


@dataclass
class RunningGroup:
    cls: int
    node: int
    pods: list[int]  # sorted by name
    gpus: tuple[int, ...]  # devices each pod of the group holds (shares of one device, or none)
    movable: bool
    can_stay: bool


@dataclass
class Aggregate:
    arr: Arrays
    classes: list[PodClass]
    groups: list[RunningGroup]
    fixed_used: np.ndarray  # [N, R] resources held by running pods that cannot leave
    fixed_dev: np.ndarray  # [N, G] device milli held by running pods that cannot leave
    fixed_groups: dict[tuple[int, int], int]  # (anti group, node) -> immovable pods of it there
    stuck: list[int]  # running pods that may neither stay nor leave: the instance is infeasible
    cls_of: np.ndarray  # [P] class of each pod

    def pairs(self) -> int:
        return sum(int(c.eligible.sum()) for c in self.classes if c.eligible is not None)


def _node_key(node: Node, devices: int) -> tuple:
    return (
        tuple(sorted(node.capacity.items())),
        tuple(sorted(node.labels.items())),
        tuple((t.key, t.value, t.effect) for t in node.taints),
        node.unschedulable,
        devices,
    )


def aggregate(arr: Arrays) -> Aggregate:
    inst = arr.inst
    by_key: dict[tuple, int] = {}
    classes: list[PodClass] = []
    groups: list[RunningGroup] = []
    group_at: dict[tuple, int] = {}
    fixed_used = np.zeros_like(arr.cap)
    dev_width = max(1, int(arr.devices.max()) if arr.n_nodes else 1)
    fixed_dev = np.zeros((arr.n_nodes, dev_width), dtype=np.int64)
    fixed_groups: dict[tuple[int, int], int] = defaultdict(int)
    stuck: list[int] = []
    cls_of = np.full(arr.n_pods, -1, dtype=np.int64)
    for j in range(arr.n_pods):
        pod = inst.pods[j]
        g = int(arr.group[j]) if arr.anti[j] else -1
        key = (
            int(arr.prio[j]),
            tuple(arr.req[j].tolist()),
            int(arr.whole[j]),
            int(arr.milli[j]),
            g,
            spec_key(pod),
        )
        c = by_key.get(key)
        if c is None:
            c = by_key[key] = len(classes)
            classes.append(
                PodClass(int(arr.prio[j]), arr.req[j], int(arr.whole[j]), int(arr.milli[j]), g, [])
            )
        cls_of[j] = c
        n = int(arr.origin[j])
        if n < 0:
            classes[c].pending.append(j)
            continue
        can_stay = bool(arr.stay_ok[j])
        gpus = tuple(arr.origin_gpus[j])
        if not arr.movable[j]:
            if not can_stay:
                stuck.append(j)
                continue
            fixed_used[n] += arr.req[j]
            for d in gpus:
                fixed_dev[n, d] += FULL if arr.whole[j] else arr.milli[j]
            if g >= 0:
                fixed_groups[(g, n)] += 1
            continue
        gkey = (c, n, gpus if arr.milli[j] else (j,) if arr.whole[j] else ())
        s = group_at.get(gkey)
        if s is None:
            s = group_at[gkey] = len(groups)
            groups.append(RunningGroup(c, n, [], gpus, True, can_stay))
            classes[c].running.append(s)
        groups[s].pods.append(j)
    for grp in groups:
        grp.pods.sort(key=lambda j: inst.pods[j].name)
    agg = Aggregate(arr, classes, groups, fixed_used, fixed_dev, dict(fixed_groups), stuck, cls_of)
    _eligibility(agg)
    return agg


def _eligibility(agg: Aggregate) -> None:
    """Nodes where a new pod of each class could go, given what cannot leave."""
    arr = agg.arr
    room = arr.cap - agg.fixed_used
    exists = np.arange(agg.fixed_dev.shape[1])[None, :] < arr.devices[:, None]
    dev_free = np.where(exists, FULL - agg.fixed_dev, -1)
    idle = (dev_free == FULL).sum(axis=1)
    best_dev = dev_free.max(axis=1)
    blocked: dict[int, list[int]] = defaultdict(list)  # anti group -> nodes an immovable member holds
    for g, n in agg.fixed_groups:
        blocked[g].append(n)
    for c in agg.classes:
        movers = sum(len(agg.groups[s].pods) for s in c.running)
        if not c.pending and not movers:
            c.eligible = np.zeros(arr.n_nodes, dtype=bool)
            continue
        example = c.pending[0] if c.pending else agg.groups[c.running[0]].pods[0]
        ok = arr.rules.mask(arr.inst.pods[example]) & np.all(c.req <= room, axis=1)
        if c.whole:
            ok &= idle >= c.whole
        if c.milli:
            ok &= best_dev >= c.milli
        if c.group >= 0:
            ok[blocked.get(c.group, [])] = False
        c.eligible = ok


@dataclass
class Model:
    """Handles to the variables, for hints and decoding."""

    agg: Aggregate
    x: dict[tuple[int, int], Any]  # (class, node) -> new pods of the class on the node
    stay: dict[int, Any]  # running group -> pods that stay
    moved: dict[int, Any]  # class -> running pods re-placed elsewhere
    placed_pending: dict[int, Any]  # class -> pending pods placed
    whole_dev: dict[tuple[int, int], Any]  # (node, device) -> device given whole to new/staying pods
    share: dict[tuple[int, int, int], Any]  # (milli, node, device) -> new shares of that size on the device
    device_nodes: set[int]  # nodes modelled device by device
    tiers: list[Tier]
    sym_nodes: list[list[int]]  # identical empty nodes, in the order the model sorts them
    free_devices: dict[int, list[int]]  # node -> interchangeable devices, in the order the model sorts them


def build(agg: Aggregate, b: ModelBuilder) -> Model:
    arr = agg.arr
    policy = arr.inst.policy
    N, R = arr.cap.shape
    m = Model(agg, {}, {}, {}, {}, {}, {}, set(), [], [], {})
    nodes_terms: list[list[tuple[Any, np.ndarray]]] = [[] for _ in range(N)]  # (var, request vector)
    anti_terms: dict[tuple[int, int], list[Any]] = defaultdict(list)
    room = arr.cap - agg.fixed_used
    exists = np.arange(agg.fixed_dev.shape[1])[None, :] < arr.devices[:, None]
    dev_free = np.where(exists, FULL - agg.fixed_dev, -1)

    # running groups: how many stay
    for s, grp in enumerate(agg.groups):
        size = len(grp.pods)
        var = b.int_var(0, size if grp.can_stay else 0, f"stay_{s}")
        m.stay[s] = var
        c = agg.classes[grp.cls]
        nodes_terms[grp.node].append((var, c.req))
        if c.group >= 0:
            anti_terms[(c.group, grp.node)].append(var)

    # new placements per class and node
    gpu_share_nodes: set[int] = set()
    for ci, c in enumerate(agg.classes):
        movers = sum(len(agg.groups[s].pods) for s in c.running)
        supply = len(c.pending) + movers
        assert c.eligible is not None
        for n in map(int, np.flatnonzero(c.eligible)):
            ub = supply
            asked = c.req > 0
            if asked.any():
                ub = min(ub, int((room[n, asked] // c.req[asked]).min()))
            if c.whole:
                ub = min(ub, int((dev_free[n] == FULL).sum()) // c.whole)
            if c.milli:
                ub = min(ub, int((np.maximum(dev_free[n], 0) // c.milli).sum()))
                gpu_share_nodes.add(n)
            if c.group >= 0:
                ub = min(ub, 1)
            if ub <= 0:
                continue
            var = b.int_var(0, ub, f"x_{ci}_{n}")
            m.x[(ci, n)] = var
            nodes_terms[n].append((var, c.req))
            if c.group >= 0:
                anti_terms[(c.group, n)].append(var)
        m.placed_pending[ci] = b.int_var(0, len(c.pending), f"pp_{ci}")
        m.moved[ci] = b.int_var(0, movers, f"mv_{ci}")
    for grp in agg.groups:
        if agg.arr.milli[grp.pods[0]]:
            gpu_share_nodes.add(grp.node)

    # supply: what lands equals pending pods placed plus running pods moved
    by_class_nodes: dict[int, list[Any]] = defaultdict(list)
    for (ci, _n), var in m.x.items():
        by_class_nodes[ci].append(var)
    total_movers = 0
    displaced_terms: list[Any] = []  # stay variables of movable groups, with their sizes
    moved_all, displaced_const = [], 0
    for ci, c in enumerate(agg.classes):
        xs = by_class_nodes.get(ci, [])
        b.add_eq(b.linear([*xs, m.placed_pending[ci], m.moved[ci]], [1] * len(xs) + [-1, -1]), 0)
        if c.running:
            sizes = [len(agg.groups[s].pods) for s in c.running]
            stays = [m.stay[s] for s in c.running]
            # moved <= displaced = sum(size - stay)
            b.add_le(b.linear([m.moved[ci], *stays], [1] + [1] * len(stays)), sum(sizes))
            if not policy.allow_eviction:
                b.add_eq(b.linear([m.moved[ci], *stays], [1] + [1] * len(stays)), sum(sizes))
            total_movers += sum(sizes)
            displaced_terms += stays
            displaced_const += sum(sizes)
        moved_all.append(m.moved[ci])
    evictions = b.linear(
        [*displaced_terms, *moved_all], [-1] * len(displaced_terms) + [-1] * len(moved_all), displaced_const
    )
    moves = b.linear(moved_all, [1] * len(moved_all))
    if policy.max_evictions is not None and policy.max_evictions < total_movers:
        b.add_le(evictions, policy.max_evictions)
    if policy.max_moves is not None and policy.max_moves < total_movers:
        b.add_le(moves, policy.max_moves)

    # capacity per node and resource (GPUs below)
    for n in range(N):
        terms = nodes_terms[n]
        if not terms:
            continue
        for r in range(R):
            used = [(v, int(q[r])) for v, q in terms if q[r] > 0]
            if not used:
                continue
            if sum(coef * b.ub(v) for v, coef in used) <= room[n, r]:
                continue
            b.add_le(b.linear([v for v, _ in used], [q for _, q in used]), int(room[n, r]))

    # anti-affinity: one pod of the group per node
    for terms in anti_terms.values():
        if len(terms) > 1:
            b.add_le(b.linear(terms, [1] * len(terms)), 1)

    _gpus(agg, b, m, dev_free, gpu_share_nodes)
    m.sym_nodes = _symmetry(agg, b, m)

    # the lexicographic objective
    for p in sorted({c.prio for c in agg.classes}, reverse=True):
        vs: list[Any] = []
        fixed = 0
        for ci, c in enumerate(agg.classes):
            if c.prio != p:
                continue
            vs += [m.placed_pending[ci], m.moved[ci]] + [m.stay[s] for s in c.running]
        tier_pods = int(np.count_nonzero(arr.prio == p))
        fixed = int(np.count_nonzero((arr.prio == p) & (arr.origin >= 0) & ~arr.movable)) - sum(
            1 for j in agg.stuck if arr.prio[j] == p
        )
        m.tiers.append(Tier(tier_name(p), b.linear(vs, [1] * len(vs), fixed), "max", fixed, tier_pods))
    m.tiers.append(Tier(EVICTIONS, evictions, "min", 0, total_movers))
    m.tiers.append(Tier(MOVES, moves, "min", 0, total_movers))
    return m


def _gpus(agg: Aggregate, b: ModelBuilder, m: Model, dev_free: np.ndarray, share_nodes: set[int]) -> None:
    arr = agg.arr
    whole_terms: dict[int, list[tuple[Any, int]]] = defaultdict(list)
    for (ci, n), var in m.x.items():
        if agg.classes[ci].whole:
            whole_terms[n].append((var, agg.classes[ci].whole))
    stay_whole: dict[int, list[tuple[int, Any]]] = defaultdict(list)  # node -> (group, stay var)
    stay_share: dict[tuple[int, int], list[tuple[Any, int]]] = defaultdict(list)
    for s, grp in enumerate(agg.groups):
        j = grp.pods[0]
        if arr.whole[j]:
            whole_terms[grp.node].append((m.stay[s], int(arr.whole[j])))
            stay_whole[grp.node].append((s, m.stay[s]))
        elif arr.milli[j]:
            stay_share[(grp.node, grp.gpus[0])].append((m.stay[s], int(arr.milli[j])))
    for n in range(arr.n_nodes):
        if not arr.devices[n]:
            continue
        if n not in share_nodes:
            terms = whole_terms.get(n)
            idle = int((dev_free[n] == FULL).sum())
            if terms and sum(k * b.ub(v) for v, k in terms) > idle:
                b.add_le(b.linear([v for v, _ in terms], [k for _, k in terms]), idle)
            continue
        m.device_nodes.add(n)
        held = {d for s, _ in stay_whole.get(n, []) for d in agg.groups[s].gpus}
        held |= {d for (nn, d) in stay_share if nn == n}
        # a device only sees the sizes of its shares: one count per (size, device), not per class
        by_size: dict[int, list[Any]] = defaultdict(list)
        for ci, c in enumerate(agg.classes):
            if c.milli and (ci, n) in m.x:
                by_size[c.milli].append(m.x[(ci, n)])
        sizes = sorted(by_size)
        whole_vars = []
        free_devs = []
        for d in range(int(arr.devices[n])):
            cap = int(dev_free[n, d])
            if cap <= 0:
                continue
            w = b.int_var(0, 1, f"w_{n}_{d}") if cap == FULL else None
            if w is not None:
                m.whole_dev[(n, d)] = w
                whole_vars.append(w)
            load_vars: list[Any] = []
            load_coefs: list[int] = []
            for size in sizes:
                if size <= cap:
                    most = min(cap // size, sum(b.ub(x) for x in by_size[size]))
                    z = b.int_var(0, most, f"z_{size}_{n}_{d}")
                    m.share[(size, n, d)] = z
                    load_vars.append(z)
                    load_coefs.append(size)
            for var, milli in stay_share.get((n, d), []):
                load_vars.append(var)
                load_coefs.append(milli)
            if w is not None:
                load_vars.append(w)
                load_coefs.append(FULL)
            if load_vars:
                b.add_le(b.linear(load_vars, load_coefs), cap)
            if cap == FULL and d not in held:
                free_devs.append(d)
        for s, var in stay_whole.get(n, []):  # a staying whole pod keeps its devices whole
            for d in agg.groups[s].gpus:
                if (n, d) in m.whole_dev:
                    b.add_le(b.linear([var, m.whole_dev[(n, d)]], [1, -1]), 0)
        terms = whole_terms.get(n, [])
        b.add_eq(
            b.linear([*whole_vars, *(v for v, _ in terms)], [1] * len(whole_vars) + [-k for _, k in terms]), 0
        )
        for size in sizes:
            zs = [m.share[(size, n, d)] for d in range(int(arr.devices[n])) if (size, n, d) in m.share]
            xs = by_size[size]
            b.add_eq(b.linear([*zs, *xs], [1] * len(zs) + [-1] * len(xs)), 0)
        # interchangeable devices: whole ones first, then by decreasing load
        m.free_devices[n] = free_devs
        for d0, d1 in zip(free_devs, free_devs[1:], strict=False):
            b.add_le(b.linear(*_device_key_diff(m, sizes, n, d1, d0)), 0)


def _device_key_diff(m: Model, sizes: list[int], n: int, lo: int, hi: int) -> tuple[list, list]:
    """Terms of key(lo) - key(hi), key = (FULL+1) * whole + load."""
    vs, cs = [], []
    for d, sign in ((lo, 1), (hi, -1)):
        if (n, d) in m.whole_dev:
            vs.append(m.whole_dev[(n, d)])
            cs.append(sign * (FULL + 1))
        for size in sizes:
            if (size, n, d) in m.share:
                vs.append(m.share[(size, n, d)])
                cs.append(sign * size)
    return vs, cs


def _symmetry(agg: Aggregate, b: ModelBuilder, m: Model) -> list[list[int]]:
    """Identical nodes with no running pods: order them by a load key so permutations are cut."""
    arr = agg.arr
    busy = np.zeros(arr.n_nodes, dtype=bool)
    busy[arr.origin[arr.origin >= 0]] = True
    classes_at: dict[int, list[int]] = defaultdict(list)
    for ci, n in m.x:
        classes_at[n].append(ci)
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for n, node in enumerate(arr.inst.nodes):
        if not busy[n]:
            buckets[_node_key(node, int(arr.devices[n]))].append(n)
    weight = symmetry_weights(agg)
    out = []
    for nodes in buckets.values():
        if len(nodes) < 2:
            continue
        out.append(nodes)
        for n0, n1 in zip(nodes, nodes[1:], strict=False):
            vs = [m.x[(ci, n1)] for ci in classes_at[n1]] + [m.x[(ci, n0)] for ci in classes_at[n0]]
            cs = [int(weight[ci]) for ci in classes_at[n1]] + [-int(weight[ci]) for ci in classes_at[n0]]
            if vs:
                b.add_le(b.linear(vs, cs), 0)
    return out


def symmetry_weights(agg: Aggregate) -> np.ndarray:
    """A positive integer per class; identical nodes carry non-increasing weighted loads."""
    return np.arange(1, len(agg.classes) + 1, dtype=np.int64)
