"""Seeded synthetic pipeline instances: a model of repeated blocks on a cluster of device types.

Layers come in blocks (attention, MLP, norm) with lognormal noise; each device type runs them at its own
speed, with a per-kind skew (one type is relatively faster on matrix multiplies than another), so the best
device for a layer differs along the model. Memory is sized so that a device holds a fraction of the model
(`memory_share`), which forces several stages. The network is one bandwidth for every pair, or two racks
(fast inside a rack, a slower uplink between them) so that cut times depend on where the stages sit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from models.pipeline import Device, Layer, Link, Network, PipelineInstance, Training

TYPE_NAMES = ("a100", "v100", "l4", "t4", "h100", "a10")
KINDS = ("attention", "mlp", "norm")
BASE_MS = {"attention": 6.0, "mlp": 8.0, "norm": 0.6}
SPEED = {"a100": 1.0, "v100": 0.55, "l4": 0.4, "t4": 0.25, "h100": 2.0, "a10": 0.45}
SKEW = {"a100": 1.0, "v100": 0.8, "l4": 1.15, "t4": 1.1, "h100": 1.2, "a10": 1.05}  # on matmul-heavy kinds
MEMORY_GIB = {"a100": 40, "v100": 16, "l4": 24, "t4": 16, "h100": 80, "a10": 24}


def synthetic(
    layers: int = 100,
    counts: Sequence[int] = (8, 8),
    seed: int = 0,
    mode: Literal["inference", "training"] = "inference",
    objective: Literal["throughput", "latency", "pareto"] = "throughput",
    network: Literal["uniform", "racks"] = "uniform",
    bandwidth_gbps: float = 25.0,
    memory_share: float = 0.25,
    microbatches: int = 4,
) -> PipelineInstance:
    rng = np.random.default_rng(seed)
    types = list(TYPE_NAMES[: len(counts)])
    kinds = [KINDS[k % 3] for k in range(layers)]
    noise = rng.lognormal(0.0, 0.25, (len(types), layers))
    base = rng.lognormal(0.0, 0.3, layers)
    weight = np.array([{"attention": 50e6, "mlp": 100e6, "norm": 1e5}[k] for k in kinds]) * rng.uniform(
        0.7, 1.3, layers
    )
    act = rng.lognormal(np.log(6e6), 0.5, layers)
    act_mem = act * rng.uniform(1.5, 3.0, layers)
    out_layers = []
    for k in range(layers):
        time_ms = {}
        backward_ms = {}
        for t, name in enumerate(types):
            skew = SKEW[name] if kinds[k] != "norm" else 1.0
            ms = BASE_MS[kinds[k]] * base[k] * noise[t, k] / (SPEED[name] * skew)
            time_ms[name] = round(float(ms), 4)
            backward_ms[name] = round(float(2 * ms), 4)
        out_layers.append(
            Layer(
                name=f"{kinds[k]}-{k}",
                time_ms=time_ms,
                backward_ms=backward_ms if mode == "training" else {},
                weight_bytes=int(weight[k]),
                activation_bytes=int(act[k]),
                activation_memory_bytes=int(act_mem[k]),
            )
        )
    total = float(weight.sum() + act_mem.sum())
    factor = 4.0 if mode == "training" else 1.0
    need = total * factor
    devices = []
    for t, name in enumerate(types):
        mem = int(need * memory_share * MEMORY_GIB[name] / 40 * rng.uniform(0.9, 1.1))
        for i in range(counts[t]):
            devices.append(Device(name=f"{name}-{i}", type=name, memory_bytes=max(mem, 1)))
    net = Network(bandwidth_gbps=bandwidth_gbps)
    if network == "racks":
        half = len(devices) // 2
        links = []
        racks = [devices[:half], devices[half:]]
        for rack in racks:
            for i in range(len(rack)):
                for j in range(i + 1, len(rack)):
                    links.append(Link(a=rack[i].name, b=rack[j].name, bandwidth_gbps=bandwidth_gbps))
        if racks[0] and racks[1]:
            links.append(
                Link(
                    a=racks[0][0].name, b=racks[1][0].name, bandwidth_gbps=bandwidth_gbps / 4, latency_ms=0.05
                )
            )
        net = Network(links=links)
    return PipelineInstance(
        layers=out_layers,
        devices=devices,
        network=net,
        mode=mode,
        training=Training(microbatches=microbatches) if mode == "training" else None,
        objective=objective,
    )
