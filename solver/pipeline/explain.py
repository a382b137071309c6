"""Explanations with numbers: what sets a plan's bottleneck, which stages are tight on memory, which devices
are unused; and, when no plan exists, which stage cannot fit where.

Infeasibility is memory or the network (every device can take some stage otherwise): a layer larger than
every device, a model larger than all devices together, or, from the memory-only reach DP, the leftmost
layer from which the layers to the end fit the devices and the stage that would have to end just before
it, which no device left can hold; when memory alone admits a plan (the same DP with every cut allowed),
the devices that could hold consecutive stages have no network path between them.
"""

from __future__ import annotations

import math

import numpy as np

from models.common import Explanation
from models.pipeline import ParetoFront, StagePlan
from solver.pipeline import bottleneck as bn
from solver.pipeline.plans import from_stage_plan
from solver.pipeline.problem import Placement, Problem

TIGHT_MEMORY = 0.95


def size(nbytes: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.2f} {unit}"
    return f"{nbytes:.0f} B"


def _layer(p: Problem, k: int) -> str:
    return f"{p.names[k]} (#{k})"


def _need(p: Problem, a: int, b: int, q: int) -> str:
    w = int(p.W[b] - p.W[a])
    act = int(p.A[b] - p.A[a])
    parts = [f"{size(w)} of weights" + (f" x {p.factor:g}" if p.factor != 1 else "")]
    if act:
        parts.append(f"{size(act)} of activations" + (f" x {q} in flight" if q != 1 else ""))
    return f"{size(p.memory(a, b, q))} ({', '.join(parts)})"


def conflicts(p: Problem) -> list[Explanation]:
    """Proofs that no plan fits, found cheaply before any search ([] when none is known)."""
    largest = max(range(p.D), key=lambda d: (p.dev_memory[d], -d))
    out = []
    for k in range(p.L):
        if not p.fits(k, k + 1, largest, 1):
            out.append(
                Explanation(
                    item=p.names[k],
                    constraint="memory",
                    message=f"layer {_layer(p, k)} alone needs {_need(p, k, k + 1, 1)}; the largest device, "
                    f"{p.dev_names[largest]}, has {size(p.dev_memory[largest])}",
                    data={
                        "layer": k,
                        "needs_bytes": p.memory(k, k + 1, 1),
                        "device": p.dev_names[largest],
                        "device_bytes": p.dev_memory[largest],
                    },
                )
            )
    if out:
        return out
    top = sorted(p.dev_memory, reverse=True)[: p.kmax]
    total = p.memory(0, p.L, 1)
    if total > sum(top):
        if p.D == 1:
            holders = f"the only device, {p.dev_names[0]}, holds"
        elif len(top) < p.D:
            plural = "s" if p.kmax != 1 else ""
            holders = (
                f"the {len(top)} largest of the {p.D} devices (at most {p.kmax} stage{plural}) together hold"
            )
        else:
            holders = f"all {p.D} devices together hold"
        return [
            Explanation(
                item="model",
                constraint="memory",
                message=f"the model needs {_need(p, 0, p.L, 1)} in all; {holders} {size(sum(top))}",
                data={"needs_bytes": total, "devices_bytes": sum(top)},
            )
        ]
    lat = bn.lattice(p)
    if lat is None or bn.work_estimate(p, lat) > 5e7:
        return []
    return _reach_conflict(p, bn.Reach(p, lat))


def memory_conflicts(p: Problem) -> list[Explanation]:
    """When an exact engine proved that no plan exists: the cheap proofs, or the totals."""
    found = conflicts(p)
    if found:
        return found
    return [
        Explanation(
            item="model",
            constraint="memory",
            message=f"no placement of the {p.L} layers fits the memory of the {p.D} devices with a network "
            "path between consecutive stages (proven by search); "
            f"the model needs {_need(p, 0, p.L, 1)} in all, the devices hold {size(sum(p.dev_memory))}",
            data={"needs_bytes": p.memory(0, p.L, 1), "devices_bytes": sum(p.dev_memory)},
        )
    ]


def _reach_conflict(p: Problem, reach: bn.Reach) -> list[Explanation]:
    start, suffix = reach.memory_reach()
    if start == 0:
        return []
    # the same reach with every cut allowed: if memory alone admits a plan, the network is what binds
    free_start, free_plan = bn.Reach(p, reach.lat, cut=np.zeros(p.L + 1)).memory_reach()
    if free_start == 0:
        return [_network_conflict(p, free_plan)]
    used = {d for _, _, d in suffix}
    free = [d for d in range(p.D) if d not in used]
    q = min(p.microbatches, len(suffix) + 1) if p.training else 1
    end = start  # the stage that would end at layer start - 1
    data: dict[str, object] = {
        "uncovered_layers": [0, start - 1],
        "covered_by": {p.dev_names[d]: [a, b - 1] for a, b, d in suffix},
        "free_devices": {p.dev_names[d]: p.dev_memory[d] for d in free},
    }
    covered = ", ".join(f"{p.dev_names[d]} [{a}, {b - 1}]" for a, b, d in suffix) or "no device"
    if len(suffix) >= p.kmax:
        where = f"the plan may have at most {p.kmax} stages (max_stages) and those are used"
    elif free:
        best = max(free, key=lambda d: (p.dev_memory[d], -d))
        first = end
        while first > 0 and p.fits(first - 1, end, best, q):
            first -= 1
        holds = (
            f"holds layers {first}..{end - 1} at most ({_need(p, first, end, q)}); with layer {first - 1} it "
            f"would need {_need(p, first - 1, end, q)}"
            if 0 < first < end
            else f"cannot hold layer {_layer(p, end - 1)} ({_need(p, end - 1, end, q)})"
        )
        where = f"the largest device left, {p.dev_names[best]} ({size(p.dev_memory[best])}), {holds}"
        data["largest_free"] = p.dev_names[best]
    else:
        where = "every device is already used by those stages"
    message = (
        f"the layers fit the devices' memory from layer {_layer(p, start)} to the end at best ({covered}); "
        f"the stage that must end at layer {_layer(p, start - 1)} fits on no device left: {where}, and "
        f"layers 0..{start - 1} would still be without a device"
    )
    return [Explanation(item=f"layers 0..{start - 1}", constraint="memory", message=message, data=data)]


def _network_conflict(p: Problem, plan: Placement) -> Explanation:
    """Memory alone admits `plan`, yet no plan exists: consecutive stages find no network path."""
    stages = ", ".join(f"{p.dev_names[d]} [{a}, {b - 1}]" for a, b, d in plan)
    missing = [
        [p.dev_names[u], p.dev_names[v]]
        for (_, _, u), (_, _, v) in zip(plan, plan[1:], strict=False)
        if (u, v) not in p.options
    ]
    example = f"; there is none from {missing[0][0]} to {missing[0][1]}" if missing else ""
    message = (
        f"memory alone admits a plan ({stages}), but no plan fitting the memory has a network path from "
        f"each stage's device to the next one's{example}"
    )
    return Explanation(
        item="network",
        constraint="network",
        message=message,
        data={"memory_plan": {p.dev_names[d]: [a, b - 1] for a, b, d in plan}, "no_path": missing},
    )


def explain(p: Problem, plan: StagePlan | ParetoFront) -> list[Explanation]:
    if isinstance(plan, ParetoFront):
        if not plan.plans:
            return []
        top, low = plan.plans[0].objective, plan.plans[-1].objective
        state = "the exact front" if plan.complete else "not proven complete"
        return [
            Explanation(
                item="front",
                constraint="pareto",
                message=f"{len(plan.plans)} non-dominated plans ({state}): from bottleneck "
                f"{top.bottleneck_ms:.6g} ms at latency {top.latency_ms:.6g} ms to bottleneck "
                f"{low.bottleneck_ms:.6g} ms at latency {low.latency_ms:.6g} ms",
                data={"points": [[sp.objective.bottleneck_ms, sp.objective.latency_ms] for sp in plan.plans]},
            )
        ]
    placement = from_stage_plan(p, plan)
    out = []
    k = len(plan.stages)
    worst = max(range(k), key=lambda s: max(plan.stages[s].compute_ms, plan.stages[s].send_ms))
    st = plan.stages[worst]
    if st.compute_ms >= st.send_ms:
        rate = 1000.0 / st.compute_ms if st.compute_ms > 0 else math.inf
        message = (
            f"the bottleneck is stage {worst} on {st.device} (layers {st.layers[0]}..{st.layers[1]}): "
            f"{st.compute_ms:.6g} ms per microbatch, {rate:.4g} microbatches/s"
        )
        what = "compute"
    else:
        nxt = plan.stages[worst + 1].device
        nbytes = p.act[st.layers[1]] * p.transfer_factor
        message = (
            f"the bottleneck is the transfer after layer {_layer(p, st.layers[1])} from {st.device} to "
            f"{nxt}: {size(nbytes)} in {st.send_ms:.6g} ms per microbatch"
        )
        what = "transfer"
    out.append(
        Explanation(
            item=f"stage {worst}",
            constraint=f"bottleneck ({what})",
            message=message,
            data={"stage": worst, "compute_ms": st.compute_ms, "send_ms": st.send_ms},
        )
    )
    for s, (a, b, d) in enumerate(placement):
        q = p.in_flight(s, k)
        need = p.memory(a, b, q)
        if need >= TIGHT_MEMORY * p.dev_memory[d]:
            out.append(
                Explanation(
                    item=f"stage {s}",
                    constraint="memory",
                    message=f"stage {s} on {p.dev_names[d]} holds {_need(p, a, b, q)} of its "
                    f"{size(p.dev_memory[d])}",
                    data={"stage": s, "bytes": need, "device_bytes": p.dev_memory[d]},
                )
            )
    unused = [p.dev_names[d] for d in range(p.D) if d not in {x for _, _, x in placement}]
    if unused:
        shown = ", ".join(unused[:10]) + (f" and {len(unused) - 10} more" if len(unused) > 10 else "")
        limit = f" (at most {p.kmax} stages)" if p.kmax < p.D else ""
        out.append(
            Explanation(
                item="devices",
                constraint="unused",
                message=f"{len(unused)} of {p.D} devices host no stage{limit}: {shown}",
                data={"unused": unused},
            )
        )
    return out
