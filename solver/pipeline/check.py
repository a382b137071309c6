"""The oracle: is a pipeline plan feasible, and what is its objective? From the instance and plan alone.

Shares no code with the engines (not the prepared arrays, not the classes, not the path options): layer
times are summed layer by layer from the instance, memory recomputed from the contract's formula, and each
transfer timed over the network by its own best-path search, for the two devices the plan puts side by
side. A front
is checked plan by plan, then for order and non-dominance.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

from models.pipeline import BOTTLENECK, HYPERVOLUME, LATENCY, ParetoFront, PipelineInstance, StagePlan
from solver.engine.family import CheckReport

REL = 1e-9  # agreement of reported numbers with the recomputation, and of objective comparisons


def _same(x: float, y: float) -> bool:
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= REL * max(1.0, abs(x), abs(y))


class _Net:
    """Best-path transfer times between two devices. One bandwidth and one latency for every pair: the
    direct link is best (any other path adds latency at the same width). Otherwise a bicriteria search
    from the sender, least latency first: a path to a device is followed only if it is wider than every
    path followed there before (those have no more latency) and if bytes / width + latency, which only
    grows along a path, is still below the best time found to the receiver."""

    def __init__(self, inst: PipelineInstance):
        self.names = [d.name for d in inst.devices]
        net = inst.network
        self.direct: tuple[float, float] | None = None
        self.out: dict[str, list[tuple[str, float, float]]] = {name: [] for name in self.names}
        if net.links is not None:
            for link in net.links:
                for u, v in ((link.a, link.b), (link.b, link.a)):
                    self.out[u].append((v, float(link.bandwidth_gbps), float(link.latency_ms)))
        elif isinstance(net.bandwidth_gbps, int | float) and isinstance(net.latency_ms, int | float):
            self.direct = (float(net.bandwidth_gbps), float(net.latency_ms))
        else:
            bw, lat = net.bandwidth_gbps, net.latency_ms
            for i, u in enumerate(self.names):
                for j, v in enumerate(self.names):
                    b = bw if isinstance(bw, int | float) else bw[i][j]  # type: ignore[index]
                    la = lat if isinstance(lat, int | float) else lat[i][j]
                    if i != j and b is not None and b > 0:
                        self.out[u].append((v, float(b), float(la)))
        self.cache: dict[tuple[str, str, float], float] = {}

    def ms(self, u: str, v: str, nbytes: float) -> float:
        def took(width: float, lat: float) -> float:
            return nbytes * 8 / (width * 1e9) * 1e3 + lat

        if self.direct is not None:
            return took(*self.direct)
        key = (u, v, nbytes)
        if key in self.cache:
            return self.cache[key]
        best = math.inf
        widest: dict[str, float] = {}
        heap: list[tuple[float, float, str]] = [(0.0, -math.inf, u)]
        while heap:
            lat, neg_width, x = heapq.heappop(heap)
            width = -neg_width
            if width <= widest.get(x, 0.0) or took(width, lat) >= best:
                continue
            widest[x] = width
            for y, b, la in self.out[x]:
                w2, l2 = min(width, b), lat + la
                if w2 <= widest.get(y, 0.0) or took(w2, l2) >= best:
                    continue
                if y == v:
                    best = took(w2, l2)  # going on from the receiver only adds
                else:
                    heapq.heappush(heap, (l2, -w2, y))
        self.cache[key] = best
        return best

    def slowest_bound(self, nbytes: float) -> float:
        """At least the slowest finite transfer of nbytes between two distinct devices: exact with one
        bandwidth for every pair; otherwise a path of at most (devices - 1) links, none narrower than the
        narrowest link nor slower than the slowest."""
        if len(self.names) < 2:
            return 0.0
        if self.direct is not None:
            return nbytes * 8 / (self.direct[0] * 1e9) * 1e3 + self.direct[1]
        links = [(b, la) for edges in self.out.values() for _, b, la in edges]
        if not links:
            return 0.0
        narrowest, slowest = min(b for b, _ in links), max(la for _, la in links)
        return nbytes * 8 / (narrowest * 1e9) * 1e3 + (len(self.names) - 1) * slowest


class _Oracle:
    def __init__(self, inst: PipelineInstance):
        self.inst = inst
        self.net = _Net(inst)
        self.devices = {d.name: d for d in inst.devices}
        self.training = inst.mode == "training"
        cfg = inst.training
        self.microbatches = (cfg.microbatches if cfg else 1) if self.training else 1
        self.factor = (cfg.state_memory_factor if cfg else 4.0) if self.training else 1.0
        self.passes = 2 if self.training else 1
        self.max_stages = min(len(inst.devices), len(inst.layers), inst.max_stages or len(inst.devices))

    def layer_ms(self, k: int, dtype: str, tflops: float | None) -> float:
        layer = self.inst.layers[k]
        fwd = layer.time_ms.get(dtype)
        if fwd is None:
            fwd = (layer.flops or 0.0) / ((tflops or math.inf) * 1e12) * 1e3
        if not self.training:
            return fwd
        bwd = layer.backward_ms.get(dtype)
        if bwd is None:
            flops = layer.backward_flops if layer.backward_flops is not None else 2 * (layer.flops or 0.0)
            bwd = flops / ((tflops or math.inf) * 1e12) * 1e3
        return fwd + bwd

    def reference_ms(self) -> float:
        types = {}
        for d in self.inst.devices:
            types[d.type] = d.tflops
        total = sum(
            max(self.layer_ms(k, t, tf) for t, tf in types.items()) for k in range(len(self.inst.layers))
        )
        biggest = max((layer.activation_bytes for layer in self.inst.layers[:-1]), default=0)
        worst = self.passes * self.net.slowest_bound(biggest)
        return total + (self.max_stages - 1) * worst + 1.0

    def single(self, plan: StagePlan, where: str = "") -> tuple[list[str], float, float]:
        v: list[str] = []
        inst = self.inst
        n = len(inst.layers)
        stages = plan.stages
        if not stages:
            return [f"{where}the plan has no stage"], math.inf, math.inf
        if len(stages) > self.max_stages:
            v.append(f"{where}{len(stages)} stages; at most {self.max_stages} are allowed")
        seen: dict[str, int] = {}
        expect = 0
        computes, sends = [], []
        for s, st in enumerate(stages):
            at = f"{where}stage {s}"
            dev = self.devices.get(st.device)
            first, last = st.layers
            if dev is None:
                v.append(f"{at}: unknown device {st.device}")
                return v, math.inf, math.inf
            if st.device in seen:
                v.append(f"{at}: device {st.device} already hosts stage {seen[st.device]}")
            seen.setdefault(st.device, s)
            if first != expect:
                v.append(
                    f"{at} starts at layer {first}; layer {expect} must come next (contiguity, coverage)"
                )
            if last < first or last >= n:
                v.append(f"{at}: layers [{first}, {last}] are not a range within 0..{n - 1}")
                return v, math.inf, math.inf
            expect = last + 1
            compute = sum(self.layer_ms(k, dev.type, dev.tflops) for k in range(first, last + 1))
            weights = sum(inst.layers[k].weight_bytes for k in range(first, last + 1))
            acts = sum(inst.layers[k].activation_memory_bytes for k in range(first, last + 1))
            q = min(self.microbatches, len(stages) - s) if self.training else 1
            memory = self.factor * weights + q * acts
            if memory > dev.memory_bytes:
                v.append(
                    f"{at} on {dev.name}: layers [{first}, {last}] need {memory:.0f} bytes "
                    f"({weights} of weights, {acts} of activations x {q}); the device has {dev.memory_bytes}"
                )
            send = 0.0
            if s + 1 < len(stages):
                nxt = stages[s + 1].device
                if nxt in self.devices:
                    send = self.passes * self.net.ms(dev.name, nxt, inst.layers[last].activation_bytes)
                    if math.isinf(send):
                        v.append(f"{at}: no network path from {dev.name} to {nxt}")
            for name, claimed, actual in (
                ("compute_ms", st.compute_ms, compute),
                ("send_ms", st.send_ms, send),
            ):
                if not _same(claimed, actual):
                    v.append(f"{at} reports {name} {claimed}; recomputed {actual}")
            if abs(st.memory_bytes - math.ceil(memory)) > 1:
                v.append(f"{at} reports memory_bytes {st.memory_bytes}; recomputed {math.ceil(memory)}")
            if st.in_flight != q:
                v.append(f"{at} reports in_flight {st.in_flight}; it holds {q}")
            computes.append(compute)
            sends.append(send)
        if expect != n:
            v.append(f"{where}layers {expect}..{n - 1} are in no stage")
        bottleneck = max(computes + sends)
        latency = sum(computes) + sum(sends)
        obj = plan.objective
        for name, claimed, actual in (
            ("bottleneck_ms", obj.bottleneck_ms, bottleneck),
            ("latency_ms", obj.latency_ms, latency),
            ("throughput_per_s", obj.throughput_per_s, 1000.0 / bottleneck if bottleneck > 0 else math.inf),
        ):
            if not _same(claimed, actual):
                v.append(f"{where}objective.{name} reported {claimed}; recomputed {actual}")
        return v, bottleneck, latency


def check(inst: PipelineInstance, plan: StagePlan | ParetoFront) -> CheckReport:
    oracle = _Oracle(inst)
    if isinstance(plan, ParetoFront):
        return _front(inst, oracle, plan)
    v, bottleneck, latency = oracle.single(plan)
    if inst.objective == "pareto":
        v.append("objective pareto asks for a front (`plans`), not a single plan")
    if inst.objective == "latency":
        return CheckReport(v, {LATENCY: latency, BOTTLENECK: bottleneck})
    return CheckReport(v, {BOTTLENECK: bottleneck, LATENCY: latency})


def _front(inst: PipelineInstance, oracle: _Oracle, front: ParetoFront) -> CheckReport:
    v: list[str] = []
    if inst.objective != "pareto":
        v.append(f"objective {inst.objective} asks for one plan, not a front")
    if not front.plans:
        return CheckReport(
            ["the front has no plan"], {BOTTLENECK: math.inf, LATENCY: math.inf, HYPERVOLUME: 0.0}
        )
    points = []
    for i, sp in enumerate(front.plans):
        pv, b, lat = oracle.single(sp, f"plans[{i}]: ")
        v += pv
        points.append((b, lat))
    for i in range(1, len(points)):
        (b0, l0), (b1, l1) = points[i - 1], points[i]
        if not (b1 > b0 and not _same(b0, b1)):
            v.append(f"plans[{i}]: bottleneck {b1} does not increase on plans[{i - 1}]'s {b0} (order)")
        if not (l1 < l0 and not _same(l0, l1)):
            v.append(
                f"plans[{i}] (bottleneck {b1}, latency {l1}) is dominated by plans[{i - 1}] "
                f"(bottleneck {b0}, latency {l0})"
            )
    reference = oracle.reference_ms()
    return CheckReport(
        v,
        {
            BOTTLENECK: min(b for b, _ in points),
            LATENCY: min(lat for _, lat in points),
            HYPERVOLUME: _hypervolume(points, reference),
        },
    )


def _hypervolume(points: Sequence[tuple[float, float]], reference: float) -> float:
    """Area of the union of the boxes [b, reference] x [lat, reference], by sweeping the bottleneck."""
    xs = sorted({min(b, reference) for b, _ in points} | {reference})
    area = 0.0
    for x0, x1 in zip(xs, xs[1:], strict=False):
        low = min((lat for b, lat in points if b <= x0), default=reference)
        area += (x1 - x0) * max(0.0, reference - min(low, reference))
    return area
