"""Array view of a pods instance and a mutable cluster state for greedy placement.

Heuristics and the plan decoder work on this state: free capacity by node and resource, free
milli per GPU device, groups present per node. Fit tests are vectorised over all nodes so that the
kube-scheduler emulation stays in milliseconds at thousands of nodes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from models.pods import GPU, GPU_MILLI_PER_DEVICE, PodsInstance
from solver.pods.rules import StaticRules, spec_key

CPU, MEMORY = "cpu_m", "memory_mib"
FULL = GPU_MILLI_PER_DEVICE


@dataclass
class Arrays:
    """Everything the greedy algorithms and the formulations read, as arrays indexed by node and pod."""

    inst: PodsInstance
    node_index: dict[str, int]
    pod_index: dict[str, int]
    name_rank: np.ndarray  # rank of each node's name, for deterministic tie-breaks
    resources: list[str]  # every resource but gpu, which is tracked per device
    cap: np.ndarray  # [N, R]
    devices: np.ndarray  # [N] GPU devices per node
    req: np.ndarray  # [P, R]
    whole: np.ndarray  # [P] whole devices requested
    milli: np.ndarray  # [P] share of one device, 0 if none
    prio: np.ndarray  # [P]
    group: np.ndarray  # [P] group id, -1 if none
    anti: np.ndarray  # [P] bool: one pod of the group per node
    origin: np.ndarray  # [P] node of a running pod, -1 if pending
    movable: np.ndarray  # [P] bool: a running pod that may move or be evicted
    stay_ok: np.ndarray  # [P] bool: a running pod that may keep its node (no NoExecute taint expels it)
    origin_gpus: list[list[int]]  # devices a running pod holds (given, or assigned by best fit)
    rules: StaticRules = field(repr=False)
    initial: ClusterState | None = field(default=None, repr=False)  # running pods in place, built once
    spec: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [P] id of identical pods

    @property
    def n_nodes(self) -> int:
        return len(self.inst.nodes)

    @property
    def n_pods(self) -> int:
        return len(self.inst.pods)

    def res(self, name: str) -> int | None:
        return self.resources.index(name) if name in self.resources else None


def build_arrays(inst: PodsInstance) -> Arrays:
    nodes, pods = inst.nodes, inst.pods
    names = {r for n in nodes for r in n.capacity} | {r for p in pods for r in p.requests}
    resources = sorted(names - {GPU})
    ridx = {r: i for i, r in enumerate(resources)}
    cap = np.zeros((len(nodes), len(resources)), dtype=np.int64)
    for i, n in enumerate(nodes):
        for r, v in n.capacity.items():
            if r != GPU:
                cap[i, ridx[r]] = v
    req = np.zeros((len(pods), len(resources)), dtype=np.int64)
    groups: dict[str, int] = {}
    group = np.full(len(pods), -1, dtype=np.int64)
    for j, p in enumerate(pods):
        for r, v in p.requests.items():
            if r != GPU:
                req[j, ridx[r]] = v
        if p.group is not None:
            group[j] = groups.setdefault(p.group, len(groups))
    node_index = {n.name: i for i, n in enumerate(nodes)}
    order = sorted(range(len(nodes)), key=lambda i: nodes[i].name)
    rank = np.empty(len(nodes), dtype=np.int64)
    rank[order] = np.arange(len(nodes))
    policy = inst.policy
    may_leave = policy.allow_eviction or policy.max_moves is None or policy.max_moves > 0
    arr = Arrays(
        inst=inst,
        node_index=node_index,
        pod_index={p.name: j for j, p in enumerate(pods)},
        name_rank=rank,
        resources=resources,
        cap=cap,
        devices=np.array([n.capacity.get(GPU, 0) for n in nodes], dtype=np.int64),
        req=req,
        whole=np.array([p.requests.get(GPU, 0) for p in pods], dtype=np.int64),
        milli=np.array([p.gpu_milli or 0 for p in pods], dtype=np.int64),
        prio=np.array([p.priority for p in pods], dtype=np.int64),
        group=group,
        anti=np.array([p.anti_affinity == "hostname" for p in pods], dtype=bool),
        origin=np.array([node_index.get(p.node, -1) if p.node else -1 for p in pods], dtype=np.int64),
        movable=np.array([p.node is not None and not p.protected and may_leave for p in pods], dtype=bool),
        stay_ok=np.zeros(len(pods), dtype=bool),
        origin_gpus=[[] for _ in pods],
        rules=StaticRules(nodes, pods),
    )
    for j, p in enumerate(pods):
        if p.node is not None:
            arr.stay_ok[j] = arr.rules.may_stay(p, nodes[node_index[p.node]])
    specs: dict[tuple, int] = {}
    arr.spec = np.array(
        [
            specs.setdefault(
                (
                    tuple(req[j].tolist()),
                    int(arr.whole[j]),
                    int(arr.milli[j]),
                    int(group[j]) if arr.anti[j] else -1,
                    spec_key(p),
                ),
                len(specs),
            )
            for j, p in enumerate(pods)
        ],
        dtype=np.int64,
    )
    arr.origin_gpus = running_devices(arr)
    return arr


def running_devices(arr: Arrays) -> list[list[int]]:
    """Devices of running pods: as given, else by best fit in name order (raises if they cannot fit)."""
    out: list[list[int]] = [list(p.gpus or []) for p in arr.inst.pods]
    free = device_table(arr.devices)
    todo = []
    for j, p in enumerate(arr.inst.pods):
        n = arr.origin[j]
        if n < 0:
            continue
        if p.gpus:
            take_devices(free, n, p.gpus, arr.whole[j], arr.milli[j])
        elif arr.whole[j] or arr.milli[j]:
            todo.append(j)
    for j in sorted(todo, key=lambda j: arr.inst.pods[j].name):
        n = arr.origin[j]
        devs = pick_devices(free[n], arr.whole[j], arr.milli[j])
        if devs is None:
            raise ValueError(
                f"running GPU pods on node {arr.inst.nodes[n].name} do not fit its {arr.devices[n]} devices"
            )
        take_devices(free, n, devs, arr.whole[j], arr.milli[j])
        out[j] = devs
    return out


def device_table(devices: np.ndarray) -> np.ndarray:
    """Free milli per device, [N, max devices]; -1 marks devices a node does not have."""
    width = max(1, int(devices.max()) if len(devices) else 1)
    table = np.full((len(devices), width), -1, dtype=np.int64)
    for n, g in enumerate(devices):
        table[n, :g] = FULL
    return table


def pick_devices(free_row: np.ndarray, whole: int, milli: int) -> list[int] | None:
    """Whole devices: the lowest free indices. A share: the fullest device it fits on (best fit)."""
    if whole:
        idle = np.flatnonzero(free_row == FULL)
        return [int(d) for d in idle[:whole]] if len(idle) >= whole else None
    if milli:
        ok = np.flatnonzero(free_row >= milli)
        if not len(ok):
            return None
        return [int(ok[np.argmin(free_row[ok])])]
    return []


def take_devices(free: np.ndarray, n: int, devs: list[int], whole: int, milli: int) -> None:
    for d in devs:
        free[n, d] -= FULL if whole else milli


def give_devices(free: np.ndarray, n: int, devs: list[int], whole: int, milli: int) -> None:
    for d in devs:
        free[n, d] += FULL if whole else milli


class ClusterState:
    """Who runs where, with vectorised fit tests over all nodes.

    Besides the raw tables it keeps, per node, the free amount of every resource (one contiguous
    row per resource), the number of idle GPU devices and the largest free share of any device,
    updated on every place/remove, so a fit test is a handful of comparisons over all nodes.
    """

    def __init__(self, arr: Arrays, with_running: bool = True):
        self.arr = arr
        self.used = np.zeros_like(arr.cap)
        self.free_t = np.ascontiguousarray(arr.cap.T.copy())  # [R, N]
        self.free_dev = device_table(arr.devices)
        self.idle = arr.devices.copy()  # devices with nothing on them
        self.best_share = np.where(arr.devices > 0, FULL, -1).astype(np.int64)  # largest free milli
        self.node_of = np.full(arr.n_pods, -1, dtype=np.int64)
        self.gpus_of: list[list[int]] = [[] for _ in range(arr.n_pods)]
        self.on_node: list[set[int]] = [set() for _ in range(arr.n_nodes)]
        self.group_nodes: dict[int, dict[int, int]] = {}  # group -> node -> pods of it there
        self.version = np.zeros(arr.n_nodes, dtype=np.int64)  # bumped whenever a node's load changes
        self.stopped_early = False  # a greedy pass cut short by the deadline
        if with_running:  # except those a NoExecute taint expels: they wait to be placed again
            for j in np.flatnonzero(arr.stay_ok):
                self.place(int(j), int(arr.origin[j]), arr.origin_gpus[j])

    def copy(self) -> ClusterState:
        other = object.__new__(ClusterState)
        other.arr = self.arr
        other.used = self.used.copy()
        other.free_t = self.free_t.copy()
        other.free_dev = self.free_dev.copy()
        other.idle = self.idle.copy()
        other.best_share = self.best_share.copy()
        other.node_of = self.node_of.copy()
        other.gpus_of = [list(g) for g in self.gpus_of]
        other.on_node = [set(s) for s in self.on_node]
        other.group_nodes = {g: dict(m) for g, m in self.group_nodes.items()}
        other.version = self.version.copy()
        other.stopped_early = self.stopped_early
        return other

    def _devices_changed(self, n: int) -> None:
        row = self.free_dev[n]
        self.idle[n] = int(np.count_nonzero(row == FULL))
        self.best_share[n] = int(row.max())

    def place(self, j: int, n: int, gpus: list[int] | None = None) -> None:
        arr = self.arr
        if gpus is None:
            gpus = pick_devices(self.free_dev[n], int(arr.whole[j]), int(arr.milli[j]))
            assert gpus is not None, "place() called on a node the pod does not fit"
        self.used[n] += arr.req[j]
        self.free_t[:, n] -= arr.req[j]
        if gpus:
            take_devices(self.free_dev, n, gpus, int(arr.whole[j]), int(arr.milli[j]))
            self._devices_changed(n)
        self.node_of[j] = n
        self.gpus_of[j] = list(gpus)
        self.on_node[n].add(j)
        self.version[n] += 1
        g = int(arr.group[j])
        if g >= 0:
            counts = self.group_nodes.setdefault(g, {})
            counts[n] = counts.get(n, 0) + 1

    def remove(self, j: int) -> None:
        arr = self.arr
        n = int(self.node_of[j])
        self.used[n] -= arr.req[j]
        self.free_t[:, n] += arr.req[j]
        if self.gpus_of[j]:
            give_devices(self.free_dev, n, self.gpus_of[j], int(arr.whole[j]), int(arr.milli[j]))
            self._devices_changed(n)
        self.node_of[j] = -1
        self.gpus_of[j] = []
        self.on_node[n].discard(j)
        self.version[n] += 1
        g = int(arr.group[j])
        if g >= 0:
            counts = self.group_nodes[g]
            counts[n] -= 1
            if not counts[n]:
                del counts[n]

    def fits(self, j: int) -> np.ndarray:
        """Nodes where pod j can be placed now: static rules, resources, devices, anti-affinity."""
        return self.fits_at(j, slice(None))

    def fits_at(self, j: int, nodes: np.ndarray | slice) -> np.ndarray:
        """fits() restricted to some nodes (an index array, or a slice for all)."""
        arr = self.arr
        ok = arr.rules.mask_of(j)[nodes].copy()
        req = arr.req[j]
        for r in np.flatnonzero(req):
            ok &= self.free_t[r][nodes] >= req[r]
        if arr.whole[j]:
            ok &= self.idle[nodes] >= arr.whole[j]
        elif arr.milli[j]:
            ok &= self.best_share[nodes] >= arr.milli[j]
        if arr.anti[j]:
            taken = self.group_nodes.get(int(arr.group[j]))
            if taken:
                held = np.zeros(arr.n_nodes, dtype=bool)
                held[list(taken)] = True
                ok &= ~held[nodes]
        return ok


def state_from(arr: Arrays, node_of: np.ndarray, gpus_of: list[list[int]]) -> ClusterState:
    """A state holding a whole placement, built in bulk (pod-by-pod place() is slow at 10^4 pods)."""
    st = ClusterState(arr, with_running=False)
    placed = np.flatnonzero(node_of >= 0)
    where = node_of[placed]
    np.add.at(st.used, where, arr.req[placed])
    st.free_t = np.ascontiguousarray((arr.cap - st.used).T)
    st.node_of = node_of.copy()
    touched = set()
    for j, n in zip(placed.tolist(), where.tolist(), strict=True):
        st.on_node[n].add(j)
        if gpus_of[j]:
            st.gpus_of[j] = list(gpus_of[j])
            take_devices(st.free_dev, n, gpus_of[j], int(arr.whole[j]), int(arr.milli[j]))
            touched.add(n)
        g = int(arr.group[j])
        if g >= 0:
            counts = st.group_nodes.setdefault(g, {})
            counts[n] = counts.get(n, 0) + 1
    for n in touched:
        st._devices_changed(n)
    return st


def initial_state(arr: Arrays) -> ClusterState:
    """A fresh state with the running pods that may stay in place (built once per instance, then copied)."""
    if arr.initial is None:
        arr.initial = ClusterState(arr)
    return arr.initial.copy()


Score = Callable[[ClusterState, int, np.ndarray], np.ndarray]


class Chooser:
    """The best node for a pod under a scoring rule: the highest score among the nodes it fits, ties
    to the first node by name. Fits and scores are cached per pod spec and recomputed only on nodes
    whose load changed since, so a greedy pass over thousands of pods costs a few array scans each."""

    def __init__(self, score: Score):
        self.score = score
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # spec -> ok, score, version

    def best(self, st: ClusterState, j: int) -> int | None:
        arr = st.arr
        key = int(arr.spec[j])
        hit = self._cache.get(key)
        if hit is None:
            ok = st.fits(j)
            val = np.full(arr.n_nodes, -np.inf)
            idx = np.flatnonzero(ok)
            if len(idx):
                val[idx] = self.score(st, j, idx)
            hit = self._cache[key] = (ok, val, st.version.copy())
        else:
            ok, val, seen = hit
            changed = np.flatnonzero(st.version != seen)
            if len(changed):
                ok[changed] = st.fits_at(j, changed)
                fresh = changed[ok[changed]]
                val[changed] = -np.inf
                if len(fresh):
                    val[fresh] = self.score(st, j, fresh)
                seen[changed] = st.version[changed]
        ok, val, _ = hit
        if not ok.any():
            return None
        top = np.where(ok, val, -np.inf)
        cand = np.flatnonzero(top == top.max())
        return int(cand[np.argmin(arr.name_rank[cand])])
