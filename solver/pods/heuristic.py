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

from solver.engine.budget import Deadline
from solver.pods.cluster import CPU, FULL, MEMORY, Arrays, Chooser, ClusterState, initial_state

MAX_SCORE = 100
DEFAULT_MILLI_CPU = 100  # upstream's non-zero request defaults, used by LeastAllocated scoring
DEFAULT_MEMORY_MIB = 200
MIN_CANDIDATES_PERCENT, MIN_CANDIDATES_ABSOLUTE = 10, 100
CHECK_EVERY = 32  # pods between deadline checks: a huge cluster under a tiny budget stops, partly placed


class KubeScheduler:
    def __init__(self, arr: Arrays, preemption: bool):
        self.arr = arr
        self.st = initial_state(arr)
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
        self.nz_used = np.zeros((2, arr.n_nodes), dtype=np.int64)  # per resource, contiguous over nodes
        for j in np.flatnonzero(self.st.node_of >= 0):
            self.nz_used[:, self.st.node_of[j]] += self.nz_req[j]
        self.zeros = np.zeros(arr.n_nodes, dtype=np.int64)
        self.cap2 = [
            np.ascontiguousarray(arr.cap[:, r]) if r is not None else self.zeros for r in (self.cpu, self.mem)
        ]
        self.req2 = np.column_stack(
            [
                arr.req[:, r] if r is not None else np.zeros(arr.n_pods, dtype=np.int64)
                for r in (self.cpu, self.mem)
            ]
        )
        self.chooser = Chooser(lambda st, j, idx: self.scores(j, idx))

    def _place(self, j: int, n: int) -> None:
        self.st.place(j, n)
        self.nz_used[:, n] += self.nz_req[j]

    def _remove(self, j: int) -> None:
        self.nz_used[:, self.st.node_of[j]] -= self.nz_req[j]
        self.st.remove(j)

    def scores(self, j: int, idx: np.ndarray) -> np.ndarray:
        """LeastAllocated (non-zero requests) + BalancedAllocation (actual requests), as upstream."""
        least = np.zeros(len(idx), dtype=np.int64)
        fractions = []
        for k in range(2):
            cap = self.cap2[k][idx]
            want = self.nz_used[k][idx] + self.nz_req[j, k]
            safe = np.maximum(cap, 1)
            least += np.where((cap > 0) & (want <= cap), (cap - want) * MAX_SCORE // safe, 0)
            used = cap - self.free2(k)[idx] + self.req2[j, k]
            fractions.append(np.where(cap > 0, np.minimum(1.0, used / safe), 1.0))
        least //= 2
        std = np.abs(fractions[0] - fractions[1]) / 2
        return least + ((1.0 - std) * MAX_SCORE).astype(np.int64)

    def free2(self, k: int) -> np.ndarray:
        r = (self.cpu, self.mem)[k]
        return self.st.free_t[r] if r is not None else self.zeros

    def schedule_one(self, j: int) -> bool:
        n = self.chooser.best(self.st, j)
        if n is None:
            return False
        self._place(j, n)
        return True

    def run(self, deadline: Deadline | None = None) -> ClusterState:
        arr = self.arr
        queue = [(-int(arr.prio[j]), int(j)) for j in np.flatnonzero(self.st.node_of < 0)]
        heapq.heapify(queue)
        done = 0
        while queue:
            done += 1
            if deadline is not None and done % CHECK_EVERY == 0 and deadline.expired():
                self.st.stopped_early = True
                break
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
        """Nodes where removing lower-priority pods could help: static rules pass, and what is free plus
        what those pods hold covers every resource j asks for (the dry run then settles devices)."""
        arr, st = self.arr, self.st
        ok = arr.rules.mask_of(j) & np.all(arr.req[j] <= arr.cap, axis=1)
        if arr.whole[j]:
            ok &= arr.devices >= arr.whole[j]
        elif arr.milli[j]:
            ok &= arr.devices >= 1
        lower = np.flatnonzero(
            (st.node_of >= 0) & (arr.prio < arr.prio[j]) & ((arr.origin < 0) | arr.movable)
        )
        freeable = st.free_t.T.copy()  # [N, R]
        np.add.at(freeable, st.node_of[lower], arr.req[lower])
        ok &= np.all(freeable >= arr.req[j], axis=1)
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
            dry = _DryRun(st, n, j)
            for v in lower:
                dry.take_out(v)
            if not dry.fits():
                continue
            victims: list[int] = []
            # reprieve the most important first: highest priority, then earliest arrival
            for v in sorted(lower, key=lambda v: (-int(arr.prio[v]), v)):
                dry.put_back(v)
                if not dry.fits():
                    dry.take_out(v)
                    victims.append(v)
            if len(victims) > self.evictions_left:
                continue
            found += 1
            key = (
                max(int(arr.prio[v]) for v in victims),
                sum(int(arr.prio[v]) + 2**31 for v in victims),
                len(victims),
                int(arr.name_rank[n]),
            )
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


class _DryRun:
    """One node's free resources and devices, edited locally to test a preemption."""

    def __init__(self, st: ClusterState, n: int, j: int):
        self.st, self.n, self.j = st, n, j
        self.free = st.free_t[:, n].copy()
        self.dev = st.free_dev[n].copy()
        arr = st.arr
        self.group = int(arr.group[j]) if arr.anti[j] else -1
        self.same_group = st.group_nodes.get(self.group, {}).get(n, 0) if self.group >= 0 else 0

    def _edit(self, v: int, sign: int) -> None:
        arr = self.st.arr
        self.free += sign * arr.req[v]
        share = FULL if arr.whole[v] else int(arr.milli[v])
        for d in self.st.gpus_of[v]:
            self.dev[d] += sign * share
        if self.group >= 0 and arr.group[v] == self.group:
            self.same_group -= sign

    def take_out(self, v: int) -> None:
        self._edit(v, +1)

    def put_back(self, v: int) -> None:
        self._edit(v, -1)

    def fits(self) -> bool:
        arr, j = self.st.arr, self.j
        if np.any(self.free < arr.req[j]) or self.same_group > 0:
            return False
        if arr.whole[j]:
            return int(np.count_nonzero(self.dev == FULL)) >= arr.whole[j]
        return not arr.milli[j] or int(self.dev.max()) >= arr.milli[j]


def kube_default(arr: Arrays, preemption: bool = True, deadline: Deadline | None = None) -> ClusterState:
    return KubeScheduler(arr, preemption).run(deadline)


def best_fit_decreasing(arr: Arrays, deadline: Deadline | None = None) -> ClusterState:
    """Highest priority first, largest first within a priority; each to the node it fills most."""
    st = initial_state(arr)
    pending = np.flatnonzero(st.node_of < 0)
    mean_cap = np.maximum(arr.cap.mean(axis=0), 1)
    size = (arr.req / mean_cap).sum(axis=1) + arr.whole + arr.milli / FULL
    cap = np.maximum(arr.cap.T, 1).astype(np.float64)  # [R, N]
    gpu_cap = np.maximum(arr.devices * FULL, 1).astype(np.float64)

    def fill(st: ClusterState, j: int, idx: np.ndarray) -> np.ndarray:
        """Mean utilisation, after placing j, of the resources j asks for (GPUs counted in milli)."""
        asked = np.flatnonzero(arr.req[j])
        total = np.zeros(len(idx))
        for r in asked:
            total += 1.0 - (st.free_t[r][idx] - arr.req[j, r]) / cap[r][idx]
        terms = len(asked)
        if arr.whole[j] or arr.milli[j]:
            free = np.where(st.free_dev[idx] > 0, st.free_dev[idx], 0).sum(axis=1)
            total += 1.0 - (free - arr.whole[j] * FULL - arr.milli[j]) / gpu_cap[idx]
            terms += 1
        return total / max(1, terms)

    chooser = Chooser(fill)
    for i, j in enumerate(sorted(pending.tolist(), key=lambda j: (-int(arr.prio[j]), -float(size[j]), j))):
        if deadline is not None and i % CHECK_EVERY == 0 and deadline.expired():
            st.stopped_early = True
            break
        n = chooser.best(st, j)
        if n is not None:
            st.place(j, n)
    return st
