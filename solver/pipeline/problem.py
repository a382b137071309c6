"""The prepared instance every engine reads: per-type time prefixes, memory prefixes, device classes and
the transfer time of every cut between every two classes.

Conventions: layers are 0..L-1; a stage covers the half-open range [a, b) (the plan says [a, b - 1]); a
cut at position j (1 <= j <= L - 1) sits after layer j - 1 and carries activation_bytes[j - 1]. A
stage's time is the prefix difference P[type][b] - P[type][a]; its memory on a device is
factor * (W[b] - W[a]) + q * (A[b] - A[a]) with W, A exact integer prefixes, factor 1 and q = 1 in
inference, the state factor and the in-flight microbatches q = min(microbatches, stages from it to the
last) in training. Every engine and the evaluation of plans use these same expressions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from models.pipeline import BOTTLENECK, HYPERVOLUME, LATENCY, PipelineInstance
from solver.engine.objective import Senses
from solver.pipeline import network
from solver.pipeline.network import Options

Placement = list[tuple[int, int, int]]  # (a, b, device): layers [a, b) on the device, in pipeline order


@dataclass
class DeviceClass:
    devices: list[int]  # instance order
    type: int
    memory: int

    @property
    def count(self) -> int:
        return len(self.devices)


@dataclass
class Problem:
    inst: PipelineInstance
    L: int
    names: list[str]
    dev_names: list[str]
    dev_type: list[int]
    dev_memory: list[int]
    types: list[str]
    time: np.ndarray  # [T, L] ms per microbatch (forward, plus backward in training)
    prefix: np.ndarray  # [T, L + 1]
    W: np.ndarray  # [L + 1] int64 weight prefix
    A: np.ndarray  # [L + 1] int64 activation-memory prefix
    act: np.ndarray  # [L] activation bytes sent by a cut after each layer
    training: bool
    microbatches: int
    factor: float
    classes: list[DeviceClass]
    class_of: list[int]
    options: dict[tuple[int, int], Options]
    kmax: int
    objective: str
    transfer_factor: float = 1.0  # 2 in training: activations forward, gradients back
    _cut_cache: dict[Options, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def D(self) -> int:  # noqa: N802
        return len(self.dev_names)

    @property
    def C(self) -> int:  # noqa: N802
        return len(self.classes)

    @property
    def T(self) -> int:  # noqa: N802
        return len(self.types)

    # memory --------------------------------------------------------------------------------------
    def in_flight(self, stage: int, stages: int) -> int:
        return min(self.microbatches, stages - stage) if self.training else 1

    def memory(self, a: int, b: int, q: int) -> float:
        return self.factor * float(self.W[b] - self.W[a]) + q * float(self.A[b] - self.A[a])

    def memory_vec(self, a: np.ndarray, b: np.ndarray, q: int | np.ndarray) -> np.ndarray:
        """memory() for arrays of ranges, with the same floating-point operations."""
        return self.factor * (self.W[b] - self.W[a]).astype(np.float64) + np.asarray(q) * (
            self.A[b] - self.A[a]
        ).astype(np.float64)

    # transfers ---------------------------------------------------------------------------------
    def cut_ms(self, opts: Options) -> np.ndarray:
        """[L + 1] transfer time of a cut at each position with these options (0 at 0 and L)."""
        out = self._cut_cache.get(opts)
        if out is None:
            out = np.zeros(self.L + 1)
            if self.L > 1:
                out[1 : self.L] = self.transfer_factor * network.transfer_ms(self.act[: self.L - 1], opts)
            self._cut_cache[opts] = out
        return out

    def pair_cut(self, x: int, y: int) -> np.ndarray | None:
        """Cut times from class x to class y (None when no two distinct devices of them connect)."""
        cx, cy = self.classes[x], self.classes[y]
        if x == y and cx.count < 2:
            return None
        u = cx.devices[0]
        v = cy.devices[1] if x == y else cy.devices[0]
        opts = self.options.get((u, v))
        return None if opts is None else self.cut_ms(opts)

    def device_cut(self, u: int, v: int, j: int) -> float:
        opts = self.options.get((u, v))
        return float("inf") if opts is None else float(self.cut_ms(opts)[j])

    @cached_property
    def class_pairs(self) -> dict[tuple[int, int], np.ndarray]:
        out = {}
        for x in range(self.C):
            for y in range(self.C):
                cut = self.pair_cut(x, y)
                if cut is not None:
                    out[(x, y)] = cut
        return out

    @cached_property
    def uniform_cut(self) -> np.ndarray | None:
        """The cut times when they do not depend on the two classes (one network for every pair)."""
        reps = self._class_pair_reps()
        if not reps:  # one device: no cut at all
            out = np.full(self.L + 1, np.inf)
            out[0] = out[self.L] = 0.0
            return out
        pairs = {self.options.get(p) for p in reps}
        if len(pairs) == 1 and None not in pairs:
            (opts,) = pairs
            assert opts is not None
            return self.cut_ms(opts)
        return None

    def _class_pair_reps(self) -> list[tuple[int, int]]:
        reps = []
        for x, cx in enumerate(self.classes):
            for y, cy in enumerate(self.classes):
                if x == y:
                    if cx.count >= 2:
                        reps.append((cx.devices[0], cx.devices[1]))
                else:
                    reps.append((cx.devices[0], cy.devices[0]))
        return reps

    @cached_property
    def min_cut(self) -> np.ndarray:
        """[L + 1] least transfer time of each cut over every class pair (inf: no pair connects)."""
        out = np.full(self.L + 1, np.inf)
        out[0] = out[self.L] = 0.0
        for cut in self.class_pairs.values():
            out[1 : self.L] = np.minimum(out[1 : self.L], cut[1 : self.L])
        return out

    @cached_property
    def max_finite_transfer(self) -> float:
        best = 0.0
        for cut in self.class_pairs.values():
            finite = cut[np.isfinite(cut)]
            if finite.size:
                best = max(best, float(finite.max()))
        return best

    # objective ---------------------------------------------------------------------------------
    @cached_property
    def reference_ms(self) -> float:
        """Upper bound of any plan's latency (hence bottleneck), plus 1: the hypervolume's reference."""
        biggest = float(self.act[: self.L - 1].max()) if self.L > 1 else 0.0
        worst = self.transfer_factor * network.slowest_bound_ms(self.inst, biggest)
        return float(self.time.max(axis=0).sum()) + (self.kmax - 1) * worst + 1.0

    @cached_property
    def min_time(self) -> np.ndarray:
        """[L] least time of each layer over the device types present."""
        return self.time.min(axis=0)

    def senses(self) -> Senses:
        if self.objective == "latency":
            return {LATENCY: "min", BOTTLENECK: "min"}
        if self.objective == "pareto":
            return {BOTTLENECK: "min", LATENCY: "min", HYPERVOLUME: "max"}
        return {BOTTLENECK: "min", LATENCY: "min"}

    def stage_ms(self, a: int, b: int, d: int) -> float:
        t = self.dev_type[d]
        return float(self.prefix[t, b] - self.prefix[t, a])

    def fits(self, a: int, b: int, d: int, q: int) -> bool:
        return self.memory(a, b, q) <= self.dev_memory[d]


def build(inst: PipelineInstance) -> Problem:
    L = len(inst.layers)
    types: list[str] = []
    type_index: dict[str, int] = {}
    for dev in inst.devices:
        type_index.setdefault(dev.type, len(types))
        if len(types) < len(type_index):
            types.append(dev.type)
    speed = {dev.type: dev.tflops for dev in inst.devices}
    training = inst.mode == "training"
    time = np.zeros((len(types), L))
    for t, name in enumerate(types):
        tf = speed[name]
        for k, layer in enumerate(inst.layers):
            fwd = layer.time_ms.get(name)
            if fwd is None:
                assert layer.flops is not None and tf is not None
                fwd = layer.flops / (tf * 1e12) * 1e3
            total = fwd
            if training:
                bwd = layer.backward_ms.get(name)
                if bwd is None:
                    assert tf is not None
                    flops = (
                        layer.backward_flops if layer.backward_flops is not None else 2 * (layer.flops or 0.0)
                    )
                    bwd = flops / (tf * 1e12) * 1e3
                total = fwd + bwd
            time[t, k] = total
    prefix = np.zeros((len(types), L + 1))
    prefix[:, 1:] = np.cumsum(time, axis=1)
    W = np.zeros(L + 1, dtype=np.int64)
    W[1:] = np.cumsum([layer.weight_bytes for layer in inst.layers])
    A = np.zeros(L + 1, dtype=np.int64)
    A[1:] = np.cumsum([layer.activation_memory_bytes for layer in inst.layers])
    options = network.pair_options(inst)
    groups = network.classes(inst, options)
    class_of = [0] * len(inst.devices)
    dclasses = []
    for x, members in enumerate(groups):
        for d in members:
            class_of[d] = x
        first = inst.devices[members[0]]
        dclasses.append(DeviceClass(members, type_index[first.type], first.memory_bytes))
    cfg = inst.training
    kmax = min(len(inst.devices), L, inst.max_stages or len(inst.devices))
    return Problem(
        inst=inst,
        L=L,
        names=[layer.name for layer in inst.layers],
        dev_names=[dev.name for dev in inst.devices],
        dev_type=[type_index[dev.type] for dev in inst.devices],
        dev_memory=[dev.memory_bytes for dev in inst.devices],
        types=types,
        time=time,
        prefix=prefix,
        W=W,
        A=A,
        act=np.array([float(layer.activation_bytes) for layer in inst.layers]),
        training=training,
        microbatches=(cfg.microbatches if cfg else 1) if training else 1,
        factor=(cfg.state_memory_factor if cfg else 4.0) if training else 1.0,
        classes=dclasses,
        class_of=class_of,
        options=options,
        kmax=kmax,
        objective=inst.objective,
        transfer_factor=2.0 if training else 1.0,
    )
