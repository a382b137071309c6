"""The parts of core/v1 Pod and Node, and of the extender/v1 wire types, that placement depends on.

Objects arrive as kube-scheduler sends them: full v1.Pod / v1.Node JSON with managedFields, status and
everything else, Go's `null` for empty maps and lists. Unknown fields are ignored and nulls mean
"absent"; quantities are parsed exactly, and a bad one is a 422 naming its JSON path.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from service.k8s.quantities import parse_quantity


def _quantity(value: Any) -> Fraction:
    q = parse_quantity(value)
    if q < 0:
        raise ValueError(f"must not be negative, got {value!r}")
    return q


Quantity = Annotated[Fraction, BeforeValidator(_quantity)]
ResourceList = dict[str, Quantity]


class K8s(BaseModel):
    """Lenient like Go's decoder: unknown fields ignored, null the same as absent."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, arbitrary_types_allowed=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v is not None}
        return data


class ObjectMeta(K8s):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    labels: dict[str, str] = Field(default_factory=dict)


class ResourceRequirements(K8s):
    requests: ResourceList = Field(default_factory=dict)
    limits: ResourceList = Field(default_factory=dict)


class Container(K8s):
    name: str = ""
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    restartPolicy: str | None = None  # "Always" on an init container: a sidecar


class Toleration(K8s):
    key: str = ""
    operator: str = ""  # "" means Equal
    value: str = ""
    effect: str = ""  # "" matches every effect


class NodeSelectorRequirement(K8s):
    key: str
    operator: str
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(K8s):
    matchExpressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    matchFields: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(K8s):
    nodeSelectorTerms: list[NodeSelectorTerm] = Field(default_factory=list)


class NodeAffinity(K8s):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None


class Affinity(K8s):
    nodeAffinity: NodeAffinity | None = None


class PodSpec(K8s):
    containers: list[Container] = Field(default_factory=list)
    initContainers: list[Container] = Field(default_factory=list)
    overhead: ResourceList = Field(default_factory=dict)
    nodeSelector: dict[str, str] = Field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    priority: int | None = None  # resolved from priorityClassName by admission
    nodeName: str = ""


class PodStatus(K8s):
    phase: str = ""


class Pod(K8s):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name}"

    @property
    def terminated(self) -> bool:
        return self.status.phase in ("Succeeded", "Failed")


class Taint(K8s):
    key: str
    value: str = ""
    effect: str


class NodeSpec(K8s):
    taints: list[Taint] = Field(default_factory=list)
    unschedulable: bool = False


class NodeStatus(K8s):
    capacity: ResourceList = Field(default_factory=dict)
    allocatable: ResourceList = Field(default_factory=dict)


class Node(K8s):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    @property
    def name(self) -> str:
        return self.metadata.name

    def allocatable(self) -> ResourceList:
        """status.allocatable; where a resource is missing there, status.capacity (as the scheduler does
        for nodes whose kubelet reports no allocatable)."""
        return {**self.status.capacity, **self.status.allocatable}


class NodeList(K8s):
    items: list[Node] = Field(default_factory=list)


class PodList(K8s):
    items: list[Pod] = Field(default_factory=list)


class ExtenderArgs(K8s):
    """extender/v1 ExtenderArgs. Go writes the field names as they are (no json tags), and its decoder
    matches them case-insensitively, so both "Pod" and "pod" are accepted here."""

    pod: Pod = Field(alias="Pod")
    nodes: NodeList | None = Field(None, alias="Nodes")
    node_names: list[str] | None = Field(None, alias="NodeNames")

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = {n.lower(): n for n in ("Pod", "Nodes", "NodeNames")}
        return {names.get(k.lower(), k): v for k, v in data.items() if v is not None}


class ExtenderFilterResult(BaseModel):
    """extender/v1 ExtenderFilterResult, as Go's encoder writes it."""

    Nodes: dict[str, Any] | None = None  # a v1.NodeList of the nodes that passed (nodeCacheCapable false)
    NodeNames: list[str] | None = None  # nodeCacheCapable true
    FailedNodes: dict[str, str] = Field(default_factory=dict)
    FailedAndUnresolvableNodes: dict[str, str] = Field(default_factory=dict)
    Error: str = ""


class HostPriority(BaseModel):
    Host: str
    Score: int = Field(ge=0, le=10)
