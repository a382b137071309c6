"""Shared data of the pipeline tests: the shipped profiles, small random instances and a request builder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from models.pipeline import PipelineInstance
from solver.pipeline.formats import identical_devices, read_pipedream, read_pipeedge_dir
from solver.pipeline.generate import synthetic

ROOT = Path(__file__).resolve().parents[2]
INSTANCES = ROOT / "instances" / "pipeline"
PIPEEDGE = INSTANCES / "pipeedge"
VIT_BASE = "google/vit-base-patch16-224"
VIT_LARGE = "google/vit-large-patch16-224"


def request(inst: PipelineInstance | dict, **options: Any) -> dict[str, Any]:
    body = inst.model_dump(mode="json") if isinstance(inst, PipelineInstance) else inst
    return {"kind": "pipeline", "instance": body, "options": {"time_limit_s": 2.0, "workers": 2, **options}}


def shipped(name: str) -> dict[str, Any]:
    return json.loads((INSTANCES / name).read_text())


def edge(model: str = VIT_LARGE, objective: str = "throughput") -> PipelineInstance:
    """PipeEdge's 8-device edge cluster (4 Minnowboards, 4 RCC hosts) running ViT."""
    return read_pipeedge_dir(PIPEEDGE, model=model, objective=objective)[0]


def pipedream(
    name: str, devices: int = 4, mode: str = "inference", gib: float = 16, gbps: float = 25
) -> PipelineInstance:
    devs, net = identical_devices(devices, int(gib * 2**30), gbps)
    text = (INSTANCES / f"{name}.graph.txt").read_text()
    return read_pipedream(text, devs, net, mode=mode, microbatches=4)


def tiny(seed: int, objective: str = "throughput") -> PipelineInstance:
    """2-6 layers on 1-5 devices of 1-3 types, either network, either mode, sometimes a stage limit."""
    rng = random.Random(seed)
    layers = rng.randint(2, 6)
    counts = [rng.randint(1, 2) for _ in range(rng.randint(1, 3))]
    inst = synthetic(
        layers=layers,
        counts=counts,
        seed=seed,
        mode=rng.choice(["inference", "training"]),
        network=rng.choice(["uniform", "racks"]),
        objective=objective,  # type: ignore[arg-type]
        memory_share=rng.choice([0.4, 0.8, 1.5]),
        microbatches=rng.randint(1, 3),
    )
    if rng.random() < 0.25:
        inst.max_stages = rng.randint(1, 3)
    return inst
