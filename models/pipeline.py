"""Pipeline stage placement: the request and plan contract of kind `pipeline`.

A model's layers, in order, are cut into contiguous stages; each stage runs on its own device. A
device hosts at most one stage and not every device has to be used. Times are milliseconds per
microbatch, sizes bytes, bandwidths gigabits per second: a transfer of `activation_bytes` between two
devices takes activation_bytes x 8 / (bandwidth_gbps x 1e9) seconds plus the latency of the best path
between them (the path with the least such time; a direct link is one path).

Modes: `inference` (a stage computes forward only and holds its weights and one microbatch's working
activations) and `training` (1F1B with `training.microbatches` microbatches: a stage computes forward
and backward, holds its weights, gradients and optimizer state as `state_memory_factor` x its weights,
plus the activations of the microbatches in flight: min(microbatches, stages from it to the last) for
the stage; each cut carries the activations forward and their gradients back, so it counts twice).

Objectives: `throughput` (least bottleneck, the largest stage compute or transfer; then the least
latency among those plans), `latency` (least sum of computes and transfers along the pipeline; then the
least bottleneck), `pareto` (the non-dominated plans between the two, each plan checked).

Shape and range rules live here; rules that relate several fields (unknown device types, duplicate
names, links to unknown devices, a missing time for a device type) are checked by
`solver.pipeline.validate` so that their errors name the exact path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Discriminator, Field, Tag, TypeAdapter, ValidationError

from models.common import SolveOptions, SolveResult, StrictModel

MAX_LAYERS = 10_000
MAX_DEVICES = 1_024
MAX_BYTES = 2**50  # 1 PiB: sums over every layer stay exact in float64
MAX_MS = 1e9

Bytes = Annotated[int, Field(ge=0, le=MAX_BYTES)]
Millis = Annotated[float, Field(ge=0, le=MAX_MS, allow_inf_nan=False)]
Gbps = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]

Mode = Literal["inference", "training"]
Objective = Literal["throughput", "latency", "pareto"]
BOTTLENECK = "bottleneck_ms"
LATENCY = "latency_ms"
HYPERVOLUME = "hypervolume_ms2"


class Layer(StrictModel):
    """One layer (or block of layers) of the model, in pipeline order."""

    name: str = Field(min_length=1)
    time_ms: dict[str, Millis] = Field(
        default_factory=dict,
        description="Forward time per microbatch by device type. A type left out is timed from `flops`.",
    )
    backward_ms: dict[str, Millis] = Field(
        default_factory=dict, description="Backward time per microbatch by device type (training)."
    )
    flops: float | None = Field(
        None, ge=0, le=1e21, description="Forward FLOPs per microbatch, timed by the devices' `tflops`."
    )
    backward_flops: float | None = Field(
        None, ge=0, le=1e21, description="Backward FLOPs per microbatch [default: 2 x flops]."
    )
    weight_bytes: Bytes = 0
    activation_bytes: Bytes = Field(
        0, description="What a cut after this layer sends to the next stage per microbatch."
    )
    activation_memory_bytes: Bytes = Field(
        0,
        description="Activation memory per microbatch while the layer's stage holds it (working set in "
        "inference, stashed activations in training).",
    )


class Device(StrictModel):
    name: str = Field(min_length=1)
    type: str = Field(min_length=1)
    memory_bytes: Bytes = Field(gt=0)
    tflops: float | None = Field(
        None, gt=0, le=1e6, description="Sustained TFLOP/s, for layers given in FLOPs (one value per type)."
    )


class Link(StrictModel):
    """An undirected network link; transfers take the best path through the links."""

    a: str = Field(min_length=1)
    b: str = Field(min_length=1)
    bandwidth_gbps: Gbps
    latency_ms: Millis = 0.0


class Network(StrictModel):
    """Either one bandwidth for every pair (a scalar), a device-by-device matrix (row = sender, in the
    order of `devices`; 0 = no direct link), or a list of links. Transfers use the best path."""

    bandwidth_gbps: float | list[list[float]] | None = Field(
        None, description="Scalar (every pair) or matrix [sender][receiver]; 0 in a matrix = no link."
    )
    latency_ms: float | list[list[float]] = Field(0.0, description="Scalar or matrix, like bandwidth_gbps.")
    links: list[Link] | None = None


class Training(StrictModel):
    microbatches: int = Field(
        1, ge=1, le=100_000, description="Microbatches per batch (1F1B): a stage holds at most this many."
    )
    state_memory_factor: float = Field(
        4.0,
        ge=1,
        le=64,
        allow_inf_nan=False,
        description="Weights, gradients and optimizer state as a multiple of the weights (4: fp32 Adam).",
    )


class PipelineInstance(StrictModel):
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS)
    devices: list[Device] = Field(min_length=1, max_length=MAX_DEVICES)
    network: Network = Field(default_factory=lambda: Network(bandwidth_gbps=10.0))
    mode: Mode = "inference"
    training: Training | None = Field(None, description="1F1B settings, for mode training.")
    objective: Objective = "throughput"
    max_stages: int | None = Field(None, ge=1, le=MAX_DEVICES, description="At most this many stages.")


class PipelineRequest(StrictModel):
    kind: Literal["pipeline"] = "pipeline"
    instance: PipelineInstance
    options: SolveOptions = Field(default_factory=SolveOptions)


# plans -------------------------------------------------------------------------------------------


class Stage(BaseModel):
    device: str
    layers: tuple[int, int] = Field(description="[first, last] layer index, inclusive.")
    compute_ms: float = Field(0.0, description="Forward (and, in training, backward) time per microbatch.")
    send_ms: float = Field(0.0, description="Transfer to the next stage per microbatch (0 for the last).")
    memory_bytes: int = Field(0, description="What the stage holds on its device (rounded up).")
    in_flight: int = Field(1, description="Microbatches whose activations the stage holds.")


class PlanObjective(BaseModel):
    bottleneck_ms: float = Field(description="The largest stage compute or transfer.")
    latency_ms: float = Field(description="Sum of computes and transfers along the pipeline.")
    throughput_per_s: float = Field(description="Microbatches per second: 1000 / bottleneck_ms.")


class StagePlan(BaseModel):
    """One placement: stages in pipeline order covering every layer once."""

    stages: list[Stage]
    objective: PlanObjective


class ParetoFront(BaseModel):
    """Non-dominated placements, by increasing bottleneck (so decreasing latency)."""

    plans: list[StagePlan]
    complete: bool = Field(
        False, description="Every plan proven Pareto-optimal and none missing (the exact front)."
    )
    explored_down_to_ms: float | None = Field(
        None,
        description="The sweep proved the front for bottlenecks from here up; plans below come from the "
        "baselines (None when complete or when no sweep ran).",
    )


def _plan_shape(value: Any) -> str:
    if isinstance(value, dict):
        return "front" if "plans" in value else "single"
    return "front" if isinstance(value, ParetoFront) else "single"


PipelinePlan = Annotated[
    Annotated[StagePlan, Tag("single")] | Annotated[ParetoFront, Tag("front")],
    Discriminator(_plan_shape),
]
_plan_adapter: TypeAdapter[StagePlan | ParetoFront] = TypeAdapter(PipelinePlan)


class PipelinePlanModel(BaseModel):
    """How a plan is read from a file or a request: a single placement, or a front (`plans`)."""

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Returns the StagePlan or ParetoFront; error locations are the plan's own paths."""
        if isinstance(obj, StagePlan | ParetoFront):
            return obj
        try:
            return _plan_adapter.validate_python(obj)
        except ValidationError as exc:
            errors = []
            for e in exc.errors():
                loc = tuple(e["loc"])
                errors.append({**e, "loc": loc[1:] if loc[:1] in (("single",), ("front",)) else loc})
            raise ValidationError.from_exception_data(exc.title, errors) from None  # type: ignore[arg-type]


class PipelineResult(SolveResult):
    kind: Literal["pipeline"] = "pipeline"
    plan: PipelinePlan | None = None
