"""Large-neighbourhood search for clusters too big for one model in the budget.

Start from the best plan known (the heuristics' and a dot-product greedy's), then repeatedly take a
few nodes, everything on them and the pods that could go there, and solve that sub-cluster
exactly with the same CP-SAT model. The new plan replaces the incumbent when it is
lexicographically no worse on the whole cluster (ties are accepted, to move across plateaus).
A neighbourhood is built around a pod left out (to place more), or around a running pod that was
moved or evicted (to bring it home): the first while pods are left out, both after. The search
stops early when the plan meets the cheap bound. Neighbourhoods grow when sub-solves are proven
quickly and shrink when they time out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.pods import PodsInstance, Policy
from solver.engine import objective as lex
from solver.engine.budget import Deadline
from solver.engine.cpsat import CpSatBackend
from solver.engine.errors import DeadlineExceeded
from solver.engine.family import ExactContext
from solver.engine.lexicographic import solve_lexicographic
from solver.engine.modeling import CpSatBuilder
from solver.engine.objective import Bound
from solver.pods.cluster import FULL, Arrays, Chooser, ClusterState, build_arrays, initial_state
from solver.pods.decode import decode, fill, hint
from solver.pods.formulation import aggregate, build
from solver.pods.plans import EVICTIONS, MOVES, evaluate, senses

MIN_K, MAX_K = 3, 48
MAX_EXTRA_PER_NODE = 8  # pods left out that join a neighbourhood, per node in it
SUB_TIME_S = 0.05  # per neighbourhood; its size adapts so most are proven within it
# With one worker the search must be reproducible, so it stops after a number of neighbourhoods fixed
# in advance: half the budget divided by a neighbourhood's worst cost (its sub-solve limit, building,
# and bookkeeping that grows with the cluster), so the wall clock does not cut it short even when the
# machine runs at half speed.
ITERATION_OVERHEAD_S = 0.01
ITERATION_S_PER_POD = 1e-5


def dot_product_greedy(arr: Arrays) -> ClusterState:
    """Highest priority first, largest first; each pod to the node whose free capacity points most
    in the pod's direction (vector bin packing's dot-product rule), ties to the first node by name."""
    st = initial_state(arr)
    pending = np.flatnonzero(st.node_of < 0)
    cap = np.maximum(arr.cap.T, 1).astype(np.float64)  # [R, N]
    size = (arr.req / np.maximum(arr.cap.max(axis=0), 1)).max(axis=1)

    def dot(st: ClusterState, j: int, idx: np.ndarray) -> np.ndarray:
        total = np.zeros(len(idx))
        for r in np.flatnonzero(arr.req[j]):
            total += st.free_t[r][idx] * arr.req[j, r] / (cap[r][idx] * cap[r][idx])
        return total

    chooser = Chooser(dot)
    for j in sorted(pending.tolist(), key=lambda j: (-int(arr.prio[j]), -float(size[j]), j)):
        n = chooser.best(st, j)
        if n is not None:
            st.place(j, n)
    return st


@dataclass
class LnsStats:
    iterations: int = 0
    improvements: int = 0
    sub_optimal: int = 0
    final_k: int = 0
    reason: str = "time"

    def note(self) -> str:
        return (
            f"lns: {self.iterations} neighbourhoods, {self.improvements} improvements, "
            f"{self.sub_optimal} solved to optimality, final size {self.final_k} nodes, "
            f"stopped: {self.reason}"
        )


class Lns:
    def __init__(
        self,
        arr: Arrays,
        start: ClusterState,
        ctx: ExactContext,
        deadline: Deadline,
        bound: Bound | None,
        nominal_s: float,
    ):
        self.arr = arr
        self.st = start
        self.ctx = ctx
        self.deadline = deadline
        self.bound = bound
        self.senses = senses(arr.inst)
        self.obj = evaluate(arr, start.node_of)
        self.rng = np.random.default_rng(ctx.options.seed)
        self.k = MIN_K + 1
        self.stats = LnsStats()
        policy = arr.inst.policy
        self.max_moves = policy.max_moves
        self.max_evictions = policy.max_evictions
        self.max_iterations: int | None = None
        if ctx.workers == 1:
            per = SUB_TIME_S + ITERATION_OVERHEAD_S + ITERATION_S_PER_POD * arr.n_pods
            self.max_iterations = max(1, int(nominal_s / (2 * per)))

    def run(self) -> ClusterState:
        arr = self.arr
        running = arr.origin >= 0
        while self.deadline.remaining() > SUB_TIME_S / 4:
            if self.max_iterations is not None and self.stats.iterations >= self.max_iterations:
                self.stats.reason = "iteration cap (one worker: reproducible)"
                break
            if self.bound is not None and lex.meets(self.obj, self.bound, self.senses):
                self.stats.reason = "meets the bound"
                break
            node_of = self.st.node_of
            out = np.flatnonzero((node_of < 0) & (~running | arr.movable))
            away = np.flatnonzero(running & arr.movable & (node_of != arr.origin))
            if not len(out) and not len(away):
                self.stats.reason = "nothing left out or away from home"
                break
            if len(out) and (not len(away) or self.rng.random() < 0.7):
                nodes = self._around_left_out(out)
            else:
                nodes = self._around_displaced(away)
            if nodes:
                try:
                    self.step(nodes, out)
                except DeadlineExceeded:  # out of time, or cancelled, while building a sub-model
                    self.stats.reason = "cancelled" if self.deadline.token.cancelled else "time"
                    break
            self.stats.iterations += 1
        self.stats.final_k = self.k
        return fill(self.st)  # pods a neighbourhood displaced may fit elsewhere now

    # neighbourhoods --------------------------------------------------------------------------
    def _room(self, j: int, cand: np.ndarray) -> np.ndarray:
        """How much of what pod j asks for is free on each candidate node (0 = full, 1 = empty)."""
        arr, st = self.arr, self.st
        room = np.ones(len(cand))
        for r in np.flatnonzero(arr.req[j]):
            room = np.minimum(room, st.free_t[r][cand] / np.maximum(arr.cap[cand, r], 1))
        if arr.whole[j]:
            room = np.minimum(room, st.idle[cand] / np.maximum(arr.devices[cand], 1))
        elif arr.milli[j]:
            room = np.minimum(room, np.maximum(st.best_share[cand], 0) / FULL)
        return room

    def _eligible(self, j: int) -> np.ndarray:
        arr = self.arr
        ok = arr.rules.mask_of(j) & np.all(arr.req[j] <= arr.cap, axis=1)
        if arr.whole[j] or arr.milli[j]:
            ok &= arr.devices >= max(1, int(arr.whole[j]))
        return np.flatnonzero(ok)

    def _pick(self, j: int, cand: np.ndarray, k: int) -> list[int]:
        noisy = self._room(j, cand) + self.rng.random(len(cand)) * 0.5  # vary neighbourhoods
        return [int(n) for n in cand[np.argsort(-noisy)[:k]]]

    def _around_left_out(self, out: np.ndarray) -> list[int]:
        arr = self.arr
        top = out[arr.prio[out] == arr.prio[out].max()]
        j = int(self.rng.choice(top))
        cand = self._eligible(j)
        return self._pick(j, cand, min(self.k, len(cand))) if len(cand) else []

    def _around_displaced(self, away: np.ndarray) -> list[int]:
        arr, st = self.arr, self.st
        j = int(self.rng.choice(away))
        home = int(arr.origin[j])
        nodes = [home] + ([int(st.node_of[j])] if st.node_of[j] >= 0 else [])
        cand = np.setdiff1d(self._eligible(j), nodes)
        return nodes + (
            self._pick(j, cand, max(0, min(self.k, len(cand) + 2) - len(nodes))) if len(cand) else []
        )

    # one step --------------------------------------------------------------------------------
    def step(self, nodes: list[int], out: np.ndarray) -> None:
        arr, st = self.arr, self.st
        node_set = set(nodes)
        inside = sorted(j for n in nodes for j in st.on_node[n])
        fits_here = [
            j
            for j in out.tolist()
            if (arr.rules.mask_of(j)[nodes] & np.all(arr.req[j] <= arr.cap[nodes], axis=1)).any()
        ]
        fits_here.sort(key=lambda j: (-int(arr.prio[j]), j))
        members = inside + fits_here[: MAX_EXTRA_PER_NODE * len(nodes)]
        sub_arr = build_arrays(self._sub_instance(nodes, node_set, members))
        agg = aggregate(sub_arr)
        if agg.stuck:
            return
        seconds = min(SUB_TIME_S, self.deadline.remaining() - 0.005)
        if seconds <= 0.005 or (self.max_iterations is not None and seconds < SUB_TIME_S):
            return  # a shortened sub-solve would depend on the wall clock
        sub_deadline = self.deadline.sub(seconds)
        b = CpSatBuilder(sub_deadline)
        model = build(agg, b)
        backend = CpSatBackend(b.model, self.ctx.options, 1, token=sub_deadline.token)
        local = {g: i for i, g in enumerate(nodes)}
        node_of = np.array([local.get(int(st.node_of[j]), -1) for j in members], dtype=np.int64)
        backend.set_hint(hint(model, node_of, [list(st.gpus_of[j]) for j in members]))
        res = solve_lexicographic(backend, model.tiers, sub_deadline, 0.0, SUB_TIME_S)
        if not backend.has_solution():
            self.k = max(MIN_K, self.k - 1)
            return
        if res.status == "optimal":
            self.stats.sub_optimal += 1
            if backend.solve_s < SUB_TIME_S / 2:  # proven with time to spare: look wider next time
                self.k = min(MAX_K, self.k + 1)
        else:
            self.k = max(MIN_K, self.k - 1)
        self._try(members, nodes, fill(decode(model, backend.value)))

    def _try(self, members: list[int], nodes: list[int], sub_st: ClusterState) -> None:
        """Apply the sub-plan in place; keep it when no worse on the whole cluster, else undo."""
        st = self.st
        before = [(j, int(st.node_of[j]), list(st.gpus_of[j])) for j in members]
        for j, n, _ in before:
            if n >= 0:
                st.remove(j)
        for i, j in enumerate(members):
            n = int(sub_st.node_of[i])
            if n >= 0:
                st.place(j, nodes[n], sub_st.gpus_of[i])
        obj = evaluate(self.arr, st.node_of)
        if self._within_policy(obj) and lex.no_worse(obj, self.obj, self.senses):
            if lex.better(obj, self.obj, self.senses):
                self.stats.improvements += 1
                self.ctx.on_incumbent(obj, None, "cpsat-lns")
            self.obj = obj
            return
        for j in members:
            if st.node_of[j] >= 0:
                st.remove(j)
        for j, n, gpus in before:
            if n >= 0:
                st.place(j, n, gpus)

    def _within_policy(self, obj: dict[str, float]) -> bool:
        if self.max_moves is not None and obj[MOVES] > self.max_moves:
            return False
        return not (self.max_evictions is not None and obj[EVICTIONS] > self.max_evictions)

    def _sub_instance(self, nodes: list[int], node_set: set[int], members: list[int]) -> PodsInstance:
        """The neighbourhood as an instance: running pods whose home is inside stay running there;
        every other member is pending (a running pod from elsewhere placed here counts as a move
        in the whole-cluster objective, which decides acceptance)."""
        arr = self.arr
        inst = arr.inst
        pods = []
        for j in members:
            pod = inst.pods[j]
            if arr.origin[j] >= 0 and int(arr.origin[j]) in node_set:
                pods.append(pod.model_copy(update={"gpus": list(arr.origin_gpus[j]) or None}))
            else:
                pods.append(pod.model_copy(update={"node": None, "gpus": None, "protected": False}))
        policy = Policy.model_construct(
            allow_eviction=inst.policy.allow_eviction,
            max_moves=0 if inst.policy.max_moves == 0 else None,
            max_evictions=0 if inst.policy.max_evictions == 0 else None,
        )
        return PodsInstance.model_construct(nodes=[inst.nodes[n] for n in nodes], pods=pods, policy=policy)


def improve(
    arr: Arrays, start: ClusterState, ctx: ExactContext, seconds: float, bound: Bound | None = None
) -> tuple[ClusterState, LnsStats]:
    """Search for `seconds` (a nominal budget), never past the request's deadline less its reserve."""
    deadline = ctx.deadline.sub(min(seconds, ctx.deadline.remaining() - ctx.reserve_s))
    lns = Lns(arr, start, ctx, deadline, bound, seconds)
    return lns.run(), lns.stats
