"""For every pod a plan leaves out, the rule or resource that blocks it, with numbers."""

from __future__ import annotations

import numpy as np

from models.common import Explanation
from models.pods import PodsPlan
from solver.pods.cluster import FULL, Arrays, ClusterState, state_from
from solver.pods.plans import from_plan
from solver.pods.rules import static_reasons


def explain(arr: Arrays, plan: PodsPlan) -> list[Explanation]:
    node_of, gpus_of = from_plan(arr, plan)
    st = state_from(arr, node_of, gpus_of)
    out = []
    names = [n.name for n in arr.inst.nodes]
    seen: dict[tuple[int, str | None], tuple[str, Explanation]] = {}  # identical pods, same reason
    for j in np.flatnonzero(node_of < 0).tolist():
        pod = arr.inst.pods[j]
        key = (int(arr.spec[j]), pod.node)
        if key in seen:
            first, e = seen[key]
            out.append(
                e.model_copy(
                    update={
                        "item": pod.name,
                        "message": e.message.replace(f"pod {first} ", f"pod {pod.name} ", 1),
                    }
                )
            )
            continue
        e = _explain_one(arr, st, j, names)
        seen[key] = (pod.name, e)
        out.append(e)
    return out


def _explain_one(arr: Arrays, st: ClusterState, j: int, names: list[str]) -> Explanation:
    pod = arr.inst.pods[j]
    who = f"pod {pod.name} (priority {pod.priority})"
    evicted = pod.node is not None
    if evicted:
        who += f", evicted from {pod.node},"
    rules = arr.rules.mask_of(j)
    if not rules.any():
        counts: dict[str, int] = {}
        for node in arr.inst.nodes:
            for reason in static_reasons(pod, node):
                counts[reason] = counts.get(reason, 0) + 1
        main = max(counts, key=lambda k: counts[k])
        detail = ", ".join(f"{v} by {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        return Explanation(
            item=pod.name,
            constraint=main,
            data={"excluded": counts},
            message=f"{who} may run on none of the {len(names)} nodes: excluded {detail}",
        )
    eligible = np.flatnonzero(rules)
    wanted = {r: int(arr.req[j, i]) for i, r in enumerate(arr.resources) if arr.req[j, i] > 0}
    # 1. too big for any eligible node even when empty
    for i, r in enumerate(arr.resources):
        if arr.req[j, i] > arr.cap[eligible, i].max():
            k = eligible[np.argmax(arr.cap[eligible, i])]
            return _short(pod.name, who, r, int(arr.req[j, i]), int(arr.cap[k, i]), names[k], "capacity")
    if arr.whole[j] and arr.whole[j] > arr.devices[eligible].max():
        k = eligible[np.argmax(arr.devices[eligible])]
        return _short(
            pod.name, who, "gpu", int(arr.whole[j]), int(arr.devices[k]), names[k], "capacity", unit=" GPUs"
        )
    # 2. no eligible node has that much free now; say what displacing lower-priority pods could free
    for i, r in enumerate(arr.resources):
        free = arr.cap[eligible, i] - st.used[eligible, i]
        if arr.req[j, i] > free.max():
            k = int(eligible[np.argmax(free)])
            held = _held_by_blockers(st, j, k)
            return _short(
                pod.name,
                who,
                r,
                int(arr.req[j, i]),
                int(free.max()),
                names[k],
                "free",
                freeable=int(arr.cap[k, i] - sum(int(arr.req[v, i]) for v in held)),
                blockers=held,
                arr=arr,
            )
    if arr.milli[j] and not arr.devices[eligible].any():
        k = eligible[0]
        return _short(pod.name, who, "gpu", 1, 0, names[k], "capacity", unit=" GPU")
    gpu_nodes = eligible[arr.devices[eligible] >= max(1, int(arr.whole[j]))]
    if arr.whole[j]:
        idle = (st.free_dev[gpu_nodes] == FULL).sum(axis=1)
        if arr.whole[j] > idle.max():
            k = int(gpu_nodes[np.argmax(idle)])
            held = _held_by_blockers(st, j, k)
            taken = {d for v in held for d in st.gpus_of[v]}
            return _short(
                pod.name,
                who,
                "gpu",
                int(arr.whole[j]),
                int(idle.max()),
                names[k],
                "free",
                unit=" idle GPUs",
                freeable=int(arr.devices[k]) - len(taken),
                blockers=held,
                arr=arr,
            )
    if arr.milli[j]:
        best = st.free_dev[gpu_nodes].max(axis=1)
        if arr.milli[j] > best.max():
            k = int(gpu_nodes[np.argmax(best)])
            return _short(
                pod.name,
                who,
                "gpu_milli",
                int(arr.milli[j]),
                int(best.max()),
                names[k],
                "free",
                unit=" milli of one GPU",
            )
    # 3. each resource fits somewhere, but not together, or anti-affinity blocks the nodes with room
    room = np.all(st.used[eligible] + arr.req[j] <= arr.cap[eligible], axis=1)
    if arr.whole[j]:
        room &= (st.free_dev[eligible] == FULL).sum(axis=1) >= arr.whole[j]
    if arr.milli[j]:
        room &= (st.free_dev[eligible] >= arr.milli[j]).any(axis=1)
    if room.any() and arr.anti[j]:
        return Explanation(
            item=pod.name,
            constraint="anti_affinity",
            data={"nodes_with_room": int(room.sum())},
            message=f"{who} fits on {int(room.sum())} node(s), each already running a pod of group "
            f"{pod.group} (anti_affinity hostname)",
        )
    if room.any():
        limit = "max_moves" if evicted else "policy"
        return Explanation(
            item=pod.name,
            constraint=limit,
            data={"nodes_with_room": int(room.sum())},
            message=f"{who} fits on {int(room.sum())} node(s) but placing it would exceed the "
            f"policy's {limit}",
        )
    short = (st.used[eligible] + arr.req[j] - arr.cap[eligible]).clip(min=0)
    k_local = int(np.argmin(short.sum(axis=1)))
    k = eligible[k_local]
    lacking = {r: int(short[k_local, i]) for i, r in enumerate(arr.resources) if short[k_local, i] > 0}
    text = " and ".join(f"{v} {r}" for v, r in ((v, r) for r, v in lacking.items())) or "GPU devices"
    return Explanation(
        item=pod.name,
        constraint="+".join(lacking) or "gpu",
        data={"requests": wanted, "closest_node": names[k], "short": lacking},
        message=f"{who} needs {_fmt(wanted)} together; no eligible node has all of it free "
        f"(closest: node {names[k]}, short by {text})",
    )


def _held_by_blockers(st: ClusterState, j: int, n: int) -> list[int]:
    """Pods on node n that placing j could not displace: equal or higher priority, or pinned."""
    arr = st.arr
    return sorted(
        v for v in st.on_node[n] if arr.prio[v] >= arr.prio[j] or (arr.origin[v] >= 0 and not arr.movable[v])
    )


def _short(
    item: str,
    who: str,
    r: str,
    need: int,
    best: int,
    node: str,
    what: str,
    unit: str = "",
    freeable: int | None = None,
    blockers: list[int] | None = None,
    arr: Arrays | None = None,
) -> Explanation:
    unit = unit or f" {r}"
    place = (
        "the largest on any eligible node is"
        if what == "capacity"
        else "the most free on any eligible node is"
    )
    data: dict = {"needs": need, "best": best, "node": node, "kind": what}
    message = f"{who} needs {need}{unit}; {place} {best} (node {node})"
    if freeable is not None and arr is not None and blockers is not None:
        names = [arr.inst.pods[v].name for v in blockers]
        data.update(freeable=freeable, held_by=names)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        message += f", and at most {freeable} there even after displacing lower-priority pods" + (
            f" (held by {shown})" if names else ""
        )
    return Explanation(item=item, constraint=r, data=data, message=message)


def _fmt(wanted: dict[str, int]) -> str:
    return ", ".join(f"{v} {r}" for r, v in wanted.items())
