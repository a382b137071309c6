"""Kubernetes pod packing with priorities: the request and plan contract of kind `pods`.

Field names follow the issue's contract. Shape and range rules live here; rules that relate
several fields (a running pod naming an unknown node, duplicate names, overflowing nodes) are
checked by `solver.pods.validate` so that their errors can name the exact path.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, NonNegativeInt

from models.common import SolveOptions, SolveResult, StrictModel

GPU = "gpu"  # the resource whose devices are tracked one by one
GPU_MILLI_PER_DEVICE = 1000
MAX_AMOUNT = 10**12  # per resource and object: sums over a million pods stay exact in int64
MAX_DEVICES = 256  # GPU devices per node

Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
DeviceIndex = Annotated[int, Field(ge=0, lt=MAX_DEVICES)]

Effect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute"]


class Taint(StrictModel):
    key: str = Field(min_length=1)
    value: str = ""
    effect: Effect = "NoSchedule"


class Toleration(StrictModel):
    """Kubernetes semantics: an empty key with operator Exists tolerates every taint."""

    key: str = ""
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str = ""
    effect: Effect | None = None  # None tolerates every effect


class AffinityTerm(StrictModel):
    """One required node-affinity expression; all terms of a pod must hold (logical AND)."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = "In"
    values: list[str] = Field(default_factory=list)


class Node(StrictModel):
    name: str = Field(min_length=1)
    capacity: dict[str, Amount] = Field(
        description="Allocatable amounts by resource name (cpu_m, memory_mib, gpu = whole devices, ...)."
    )
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)
    unschedulable: bool = False


class Pod(StrictModel):
    name: str = Field(min_length=1)
    group: str | None = Field(None, description="Workload (ReplicaSet) the pod belongs to.")
    requests: dict[str, Amount] = Field(default_factory=dict)
    priority: int = Field(0, ge=-(2**31), le=10**9)
    node: str | None = Field(None, description="Node a running pod is on; null for a pending pod.")
    gpus: list[DeviceIndex] | None = Field(
        None,
        description="Device indices a running GPU pod holds; kept when it stays. Chosen for you if omitted.",
    )
    protected: bool = Field(False, description="A protected running pod is never moved or evicted.")
    node_selector: dict[str, str] = Field(default_factory=dict)
    node_affinity: list[AffinityTerm] = Field(default_factory=list)
    tolerations: list[Toleration] = Field(default_factory=list)
    anti_affinity: Literal["hostname"] | None = Field(
        None, description="hostname: no two pods of the pod's group on one node."
    )
    gpu_milli: int | None = Field(
        None, ge=1, le=GPU_MILLI_PER_DEVICE - 1, description="Share of one GPU device, 1..999 milli."
    )


class Policy(StrictModel):
    allow_eviction: bool = True
    max_moves: NonNegativeInt | None = Field(None, description="Cap on running pods moved; null = no cap.")
    max_evictions: NonNegativeInt | None = Field(
        None, description="Cap on running pods evicted; null = no cap."
    )


class PodsInstance(StrictModel):
    nodes: list[Node] = Field(min_length=1)
    pods: list[Pod] = Field(default_factory=list, description="In arrival order (the queue's tie-break).")
    policy: Policy = Field(default_factory=Policy)


class PodsRequest(StrictModel):
    kind: Literal["pods"] = "pods"
    instance: PodsInstance
    options: SolveOptions = Field(default_factory=SolveOptions)


class Assignment(BaseModel):
    pod: str
    node: str | None = None
    gpus: list[int] = Field(default_factory=list)


class Move(BaseModel):
    pod: str
    from_node: str
    to_node: str


class PodsPlan(BaseModel):
    assignments: list[Assignment]
    moves: list[Move] = Field(default_factory=list)
    evictions: list[str] = Field(default_factory=list)
    pending: list[str] = Field(default_factory=list, description="Pending pods left pending.")
    placed_by_priority: dict[int, int] = Field(default_factory=dict)


class PodsResult(SolveResult):
    kind: Literal["pods"] = "pods"
    plan: PodsPlan | None = None
