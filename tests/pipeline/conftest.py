"""Shared data of the pipeline tests: the shipped profiles, small random instances and a request builder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from models.common import SolveOptions
from models.pipeline import PipelineInstance, StagePlan
from solver.engine.budget import Deadline
from solver.engine.family import ExactContext, ExactOutcome
from solver.pipeline import exact, latency_dp
from solver.pipeline.bound import cheap_bound
from solver.pipeline.formats import identical_devices, read_pipedream, read_pipeedge_dir
from solver.pipeline.generate import synthetic
from solver.pipeline.problem import Problem

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


def exact_alone(
    p: Problem,
    engine: str = "cpsat",
    arcs_only: bool = False,
    time_limit_s: float = 5.0,
    hint: StagePlan | None = None,
) -> ExactOutcome:
    """The exact engine on its own, outside the portfolio, with the given hint only (default none).
    arcs_only: both DPs off, so the CP-SAT or ILP arc model proves every step."""
    saved = exact.DP_RATE, latency_dp.MAX_CELLS
    if arcs_only:
        exact.DP_RATE, latency_dp.MAX_CELLS = 0.0, 0
    try:
        ctx = ExactContext(
            deadline=Deadline(time_limit_s),
            options=SolveOptions(time_limit_s=time_limit_s, workers=2),
            hint=hint,
            hint_objective=None,
            on_incumbent=lambda *_: None,
            workers=2,
            reserve_s=0.05,
            bound=cheap_bound(p),
            nominal_s=0.8 * time_limit_s,
        )
        return exact.solve(p, ctx, engine)
    finally:
        exact.DP_RATE, latency_dp.MAX_CELLS = saved
