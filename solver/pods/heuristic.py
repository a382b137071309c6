"""The baselines users run today: kube-scheduler's defaults, emulated, and best-fit decreasing.

kube_default follows the upstream scheduling cycle: a queue ordered by priority then arrival;
filters (NodeUnschedulable, TaintToleration, NodeAffinity, NodeResourcesFit, InterPodAntiAffinity,
GPU devices); scores NodeResourcesFit/LeastAllocated (cpu and memory, non-zero requests, weight 1)
plus NodeResourcesBalancedAllocation (weight 1), integer arithmetic as upstream; the highest score
wins, ties to the first node by name (upstream picks at random). When a pod fits nowhere,
DefaultPreemption: on each node remove every lower-priority pod, reprieve the most important first,
and pick the node by the upstream order (lowest highest-victim priority, lowest sum of victim
priorities offset by 2^31, fewest victims, then name). Victims re-enter the queue. Upstream
samples 10% of nodes (at least 100) as preemption candidates: so does this, in name order.
Running pods never move except as preemption victims.
"""

from __future__ import annotations

import heapq

import numpy as np

from solver.pods.cluster import CPU, FULL, MEMORY, Arrays, ClusterState

MAX_SCORE = 100
DEFAULT_MILLI_CPU = 100  # upstream's non-zero request defaults, used by LeastAllocated scoring
DEFAULT_MEMORY_MIB = 200
MIN_CANDIDATES_PERCENT, MIN_CANDIDATES_ABSOLUTE = 10, 100


def fits_node(st: ClusterState, j: int, n: int) -> bool:
    """Single-node version of ClusterState.fits, for preemption dry runs."""
    arr = st.arr
    if not arr.rules.mask(arr.inst.pods[j])[n]:
        return False
    if np.any(st.used[n] + arr.req[j] > arr.cap[n]):
        return False
    row = st.free_dev[n]
    if arr.whole[j] and np.count_nonzero(row == FULL) < arr.whole[j]:
        return False
    if arr.milli[j] and not np.any(row >= arr.milli[j]):
        return False
    if arr.anti[j]:
        return n not in st.group_nodes.get(int(arr.group[j]), {})
    return True


class KubeScheduler:
    def __init__(self, arr: Arrays, preemption: bool):
        self.arr = arr
        self.st = ClusterState(arr)
        policy = arr.inst.policy
        self.preemption = preemption and policy.allow_eviction
        self.evictions_left = policy.max_evictions if policy.max_evictions is not None else 1 << 62
        self.moves_left = policy.max_moves if policy.max_moves is not None else 1 << 62
        self.cpu, self.mem = arr.res(CPU), arr.res(MEMORY)
        # non-zero requested cpu and memory per node (LeastAllocated scores these)
        self.nz_req = np.zeros((arr.n_pods, 2), dtype=np.int64)
        for k, (r, default) in enumerate(((self.cpu, DEFAULT_MILLI_CPU), (self.mem, DEFAULT_MEMORY_MIB))):
            if r is not None:
                self.nz_req[:, k] = np.where(arr.req[:, r] > 0, arr.req[:, r], default)
            else:
                self.nz_req[:, k] = default
        self.nz_used = np.zeros((arr.n_nodes, 2), dtype=np.int64)
        for j in np.flatnonzero(self.st.node_of >= 0):
            self.nz_used[self.st.node_of[j]] += self.nz_req[j]

    def _place(self, j: int, n: int) -> None:
        self.st.place(j, n)
        self.nz_used[n] += self.nz_req[j]

    def _remove(self, j: int) -> None:
        self.nz_used[self.st.node_of[j]] -= self.nz_req[j]
        self.st.remove(j)

    def scores(self, j: int, idx: np.ndarray) -> np.ndarray:
        arr = self.arr
        least = np.zeros(len(idx), dtype=np.int64)
        fractions = []
        for k, r in enumerate((self.cpu, self.mem)):
            cap = arr.cap[idx, r] if r is not None else np.zeros(len(idx), dtype=np.int64)
            want = self.nz_used[idx, k] + self.nz_req[j, k]
            safe = np.maximum(cap, 1)
            least += np.where((cap > 0) & (want <= cap), (cap - want) * MAX_SCORE // safe, 0)
            used = (self.st.used[idx, r] + arr.req[j, r]) if r is not None else np.zeros(len(idx), dtype=np.int64)
            fractions.append(np.where(cap > 0, np.minimum(1.0, used / safe), 1.0))
        least //= 2
        std = np.abs(fractions[0] - fractions[1]) / 2
        balanced = ((1.0 - std) * MAX_SCORE).astype(np.int64)
        return least + balanced

    def schedule_one(self, j: int) -> bool:
        ok = self.st.fits(j)
        idx = np.flatnonzero(ok)
        if len(idx):
            score = self.scores(j, idx)
            best = idx[score == score.max()]
            self._place(j, int(best[np.argmin(self.arr.name_rank[best])]))
            return True
        return False

    def run(self) -> ClusterState:
        arr = self.arr
        queue = [(-int(arr.prio[j]), int(j)) for j in np.flatnonzero(arr.origin < 0)]
        heapq.heapify(queue)
        while queue:
            _, j = heapq.heappop(queue)
            if self.schedule_one(j):
                if arr.origin[j] >= 0:  # a preemption victim placed again: a move
                    self.moves_left -= 1
                continue
            if self.preemption:
                victims = self.preempt(j)
                for v in victims:
                    if arr.origin[v] < 0 or self.moves_left > 0:
                        heapq.heappush(queue, (-int(arr.prio[v]), v))
        return self.st

    def _candidate_nodes(self, j: int) -> np.ndarray:
        """Nodes where removing pods could help: static rules pass and the empty node is big enough."""
        arr = self.arr
        ok = arr.rules.mask(arr.inst.pods[j]) & np.all(arr.req[j] <= arr.cap, axis=1)
        if arr.whole[j]:
            ok &= arr.devices >= arr.whole[j]
        elif arr.milli[j]:
            ok &= arr.devices >= 1
        idx = np.flatnonzero(ok)
        return idx[np.argsort(arr.name_rank[idx])]

    def preempt(self, j: int) -> list[int]:
        arr, st = self.arr, self.st
        prio = int(arr.prio[j])
        wanted = max(MIN_CANDIDATES_ABSOLUTE, arr.n_nodes * MIN_CANDIDATES_PERCENT // 100)
        best_key, best = None, None
        found = 0
        for n in self._candidate_nodes(j):
            n = int(n)
            lower = [v for v in st.on_node[n] if arr.prio[v] < prio and (arr.origin[v] < 0 or arr.movable[v])]
            if not lower:
                continue
            placed = {v: (int(st.node_of[v]), list(st.gpus_of[v])) for v in lower}
            for v in lower:
                st.remove(v)
            victims: list[int] = []
            if fits_node(st, j, n):
                # reprieve the most important first: highest priority, then earliest arrival
                for v in sorted(lower, key=lambda v: (-int(arr.prio[v]), v)):
                    st.place(v, *placed[v])
                    if not fits_node(st, j, n):
                        st.remove(v)
                        victims.append(v)
                for v in victims:
                    st.place(v, *placed[v])
                ok = len(victims) <= self.evictions_left
            else:
                for v in lower:
                    st.place(v, *placed[v])
                ok = False
            if not ok:
                continue
            found += 1
            key = (max(int(arr.prio[v]) for v in victims),
                   sum(int(arr.prio[v]) + 2**31 for v in victims),
                   len(victims), int(arr.name_rank[n]))
            if best_key is None or key < best_key:
                best_key, best = key, (n, victims)
            if found >= wanted:
                break
        if best is None:
            return []
        n, victims = best
        for v in victims:
            self._remove(v)
        self.evictions_left -= sum(1 for v in victims if arr.origin[v] >= 0)
        self._place(j, n)
        return victims


def kube_default(arr: Arrays, preemption: bool = True) -> ClusterState:
    return KubeScheduler(arr, preemption).run()


def best_fit_decreasing(arr: Arrays) -> ClusterState:
    """Highest priority first, largest first within a priority; each to the node it fills most."""
    st = ClusterState(arr)
    pending = np.flatnonzero(arr.origin < 0)
    mean_cap = np.maximum(arr.cap.mean(axis=0), 1)
    size = (arr.req / mean_cap).sum(axis=1) + arr.whole + arr.milli / FULL
    order = sorted(pending.tolist(), key=lambda j: (-int(arr.prio[j]), -float(size[j]), j))
    gpu_cap = np.maximum(arr.devices * FULL, 1)
    for j in order:
        idx = np.flatnonzero(st.fits(j))
        if not len(idx):
            continue
        asked = np.flatnonzero(arr.req[j] > 0)
        fill = ((st.used[np.ix_(idx, asked)] + arr.req[j, asked]) / np.maximum(arr.cap[np.ix_(idx, asked)], 1)).sum(1)
        terms = len(asked)
        if arr.whole[j] or arr.milli[j]:
            free = np.where(st.free_dev[idx] > 0, st.free_dev[idx], 0).sum(axis=1)
            fill = fill + (gpu_cap[idx] - free + arr.whole[j] * FULL + arr.milli[j]) / gpu_cap[idx]
            terms += 1
        fill = fill / max(1, terms)
        best = idx[fill >= fill.max() - 1e-12]
        st.place(j, int(best[np.argmin(arr.name_rank[best])]))
    return st
