"""Large-neighbourhood search for clusters too big for one model in the budget.

Start from the best plan known (the heuristics' and a dot-product greedy's), then repeatedly take a
few nodes, everything on them and the pods still left out that could go there, and solve that
sub-cluster exactly with the same CP-SAT model. The new plan replaces the incumbent when it is
lexicographically no worse on the whole cluster (ties are accepted, to move across plateaus).
Neighbourhoods grow when sub-solves are easy and shrink when they time out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from models.pods import Policy, PodsInstance
from solver.engine import objective as lex
from solver.engine.budget import Deadline
from solver.engine.cpsat import CpSatBackend
from solver.engine.family import ExactContext
from solver.engine.lexicographic import solve_lexicographic
from solver.engine.modeling import CpSatBuilder
from solver.pods.cluster import Arrays, ClusterState, build_arrays
from solver.pods.decode import decode, fill, hint
from solver.pods.formulation import aggregate, build
from solver.pods.plans import EVICTIONS, MOVES, evaluate, senses

MIN_K, MAX_K = 3, 48
MAX_EXTRA_PER_NODE = 8  # pods left out that join a neighbourhood, per node in it
SUB_TIME_S = 0.08


def dot_product_greedy(arr: Arrays) -> ClusterState:
    """Highest priority first, largest first; each pod to the node whose free capacity points most
    in the pod's direction (vector bin packing's dot-product rule), ties to the first node by name."""
    st = ClusterState(arr)
    pending = np.flatnonzero(arr.origin < 0)
    norm_cap = np.maximum(arr.cap, 1).astype(np.float64)
    size = (arr.req / np.maximum(arr.cap.max(axis=0), 1)).max(axis=1)
    for j in sorted(pending.tolist(), key=lambda j: (-int(arr.prio[j]), -float(size[j]), j)):
        idx = np.flatnonzero(st.fits(j))
        if not len(idx):
            continue
        free = (arr.cap[idx] - st.used[idx]) / norm_cap[idx]
        score = (free * (arr.req[j] / norm_cap[idx])).sum(axis=1)
        best = idx[score >= score.max() - 1e-12]
        st.place(j, int(best[np.argmin(arr.name_rank[best])]))
    return st


@dataclass
class LnsStats:
    iterations: int = 0
    improvements: int = 0
    sub_optimal: int = 0
    final_k: int = 0


class Lns:
    def __init__(self, arr: Arrays, start: ClusterState, ctx: ExactContext, deadline: Deadline):
        self.arr = arr
        self.st = start
        self.ctx = ctx
        self.deadline = deadline
        self.senses = senses(arr.inst)
        self.obj = evaluate(arr, start.node_of)
        self.rng = np.random.default_rng(ctx.options.seed)
        self.k = MIN_K + 1
        self.stats = LnsStats()
        policy = arr.inst.policy
        self.max_moves = policy.max_moves
        self.max_evictions = policy.max_evictions

    def run(self) -> ClusterState:
        while self.deadline.remaining() > SUB_TIME_S / 4:
            out = np.flatnonzero(self.st.node_of < 0)
            movable_out = out[(self.arr.origin[out] < 0) | self.arr.movable[out]]
            if not len(movable_out):
                break  # everything runs: nothing left to gain on any tier, and moves/evictions only grow
            self.step(movable_out)
            self.stats.iterations += 1
        self.stats.final_k = self.k
        return self.st

    def _neighbourhood(self, out: np.ndarray) -> list[int]:
        arr, st = self.arr, self.st
        top = int(arr.prio[out].max())
        focus_pool = out[arr.prio[out] == top]
        j = int(self.rng.choice(focus_pool))
        ok = arr.rules.mask(arr.inst.pods[j]) & np.all(arr.req[j] <= arr.cap, axis=1)
        if arr.whole[j] or arr.milli[j]:
            ok &= arr.devices >= max(1, int(arr.whole[j]))
        cand = np.flatnonzero(ok)
        if not len(cand):
            return []
        # prefer nodes with room for the focus pod, with noise so neighbourhoods vary
        room = ((arr.cap[cand] - st.used[cand]) / np.maximum(arr.cap[cand], 1)).min(axis=1)
        noisy = room + self.rng.random(len(cand)) * 0.5
        k = min(self.k, len(cand))
        return [int(n) for n in cand[np.argsort(-noisy)[:k]]]

    def step(self, out: np.ndarray) -> None:
        nodes = self._neighbourhood(out)
        if not nodes:
            return
        arr, st = self.arr, self.st
        node_set = set(nodes)
        inside = sorted(j for n in nodes for j in st.on_node[n])
        fits_here = [j for j in out.tolist()
                     if (arr.rules.mask(arr.inst.pods[j])[nodes] & np.all(arr.req[j] <= arr.cap[nodes], axis=1)).any()]
        fits_here.sort(key=lambda j: (-int(arr.prio[j]), j))
        extra = fits_here[: MAX_EXTRA_PER_NODE * len(nodes)]
        members = inside + extra
        sub, sub_arr_nodes = self._sub_instance(nodes, node_set, members)
        sub_arr = build_arrays(sub)
        agg = aggregate(sub_arr)
        if agg.stuck:
            return
        seconds = min(SUB_TIME_S * (1 + len(nodes) / 8), self.deadline.remaining() - 0.005)
        if seconds <= 0.005:
            return
        sub_deadline = Deadline(seconds)
        b = CpSatBuilder(sub_deadline)
        model = build(agg, b)
        backend = CpSatBackend(b.model, self.ctx.options, 1)
        local = {g: i for i, g in enumerate(sub_arr_nodes)}
        node_of = np.array([local.get(int(st.node_of[j]), -1) for j in members], dtype=np.int64)
        backend.set_hint(hint(model, node_of, [list(st.gpus_of[j]) for j in members]))
        res = solve_lexicographic(backend, model.tiers, sub_deadline, 0.0)
        if not backend.has_solution():
            self.k = max(MIN_K, self.k - 1)
            return
        if res.status == "optimal":
            self.stats.sub_optimal += 1
        sub_st = fill(decode(model, backend.value))
        trial = st.copy()
        for j in members:
            if trial.node_of[j] >= 0:
                trial.remove(j)
        for i, j in enumerate(members):
            n = int(sub_st.node_of[i])
            if n >= 0:
                trial.place(j, sub_arr_nodes[n], sub_st.gpus_of[i])
        obj = evaluate(arr, trial.node_of)
        if not self._within_policy(obj):
            return
        if lex.better(obj, self.obj, self.senses):
            self.stats.improvements += 1
            self.ctx.on_incumbent(obj, None, "cpsat-lns")
        if lex.no_worse(obj, self.obj, self.senses):
            self.st, self.obj = trial, obj
        # adapt: a proven sub-problem was easy, so look wider next time; a timeout means narrower
        if res.status == "optimal":
            self.k = min(MAX_K, self.k + 1)
        else:
            self.k = max(MIN_K, self.k - 1)

    def _within_policy(self, obj: dict[str, float]) -> bool:
        if self.max_moves is not None and obj[MOVES] > self.max_moves:
            return False
        return not (self.max_evictions is not None and obj[EVICTIONS] > self.max_evictions)

    def _sub_instance(self, nodes: list[int], node_set: set[int], members: list[int]) -> tuple[PodsInstance, list[int]]:
        """The neighbourhood as an instance: running pods whose origin is inside stay running there;
        every other member is pending (a running pod from elsewhere placed here counts as a move
        in the whole-cluster objective, which decides acceptance)."""
        arr = self.arr
        inst = arr.inst
        pods = []
        for j in members:
            pod = inst.pods[j]
            origin = int(arr.origin[j])
            if origin >= 0 and origin in node_set:
                pods.append(pod.model_copy(update={"gpus": list(arr.origin_gpus[j]) or None}))
            else:
                pods.append(pod.model_copy(update={"node": None, "gpus": None, "protected": False}))
        policy = Policy.model_construct(allow_eviction=inst.policy.allow_eviction, max_moves=None, max_evictions=None)
        sub = PodsInstance.model_construct(nodes=[inst.nodes[n] for n in nodes], pods=pods, policy=policy)
        return sub, nodes


def improve(arr: Arrays, start: ClusterState, ctx: ExactContext, seconds: float) -> tuple[ClusterState, LnsStats]:
    deadline = Deadline(min(seconds, ctx.deadline.remaining()))
    t0 = time.perf_counter()
    lns = Lns(arr, start, ctx, deadline)
    st = lns.run()
    del t0
    return st, lns.stats
