"""Kubernetes semantics of the extender, without HTTP: quantities, effective pod requests, the filter
predicates, the cluster cache and the plan instance it builds. Objects are real v1 JSON (data/k8s)."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from models.pods import PodsInstance
from service.k8s.cluster import NODE_LABEL, ClusterCache
from service.k8s.convert import (
    family_units,
    fit_reasons,
    kube_units,
    matches_node_affinity,
    placement_reasons,
    pod_requests,
    tolerates,
)
from service.k8s.objects import ExtenderArgs, Node, Pod, Taint, Toleration
from service.k8s.quantities import milli, parse_quantity, whole

DATA = Path(__file__).parent / "data" / "k8s"
GI, MI = 2**30, 2**20


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def pod(name: str, **spec: Any) -> Pod:
    data = load(name)
    data["spec"].update(spec)
    return Pod.model_validate(data)


def node(name: str = "node-a", **changes: Any) -> Node:
    data = copy.deepcopy(load(name))
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = value
    return Node.model_validate(data)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("1.5", Fraction(3, 2)),
        ("2Gi", 2 * GI),
        ("1G", 10**9),
        ("128974848", 128974848),
        ("129e6", 129_000_000),
        ("123Mi", 123 * MI),
        ("1e3", 1000),
        ("1E-3", Fraction(1, 1000)),
        ("0.1", Fraction(1, 10)),
        ("100u", Fraction(1, 10_000)),
        ("5n", Fraction(5, 10**9)),
        ("1Ki", 1024),
        ("1k", 1000),
        ("+1", 1),
        (".5", Fraction(1, 2)),
        ("1.", 1),
        ("1E", 10**18),
        ("3Ti", 3 * 2**40),
        (8, 8),
        (0.25, Fraction(1, 4)),
    ],
)
def test_quantities(text: str | int | float, value: Fraction | int) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "1.5.2", "1 Gi", "Gi", "1e", "1KiB", "--1", "1ki", "0x10", "1e99"]
)
def test_not_quantities(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_integers_round_up_like_kubernetes() -> None:
    assert milli(parse_quantity("0.0001")) == 1 and milli(parse_quantity("1.5")) == 1500
    assert whole(parse_quantity("1.5")) == 2 and whole(parse_quantity("2Gi")) == 2 * GI


def test_app_containers_add_up_init_containers_peak_and_overhead_adds() -> None:
    """web: app 250m + metrics 0.25 = 500m; the migrate init container needs 1 CPU and 1G alone; then the
    kata runtime's overhead of 250m and 120Mi."""
    requests = kube_units(pod_requests(pod("pod-web")))
    assert requests == {"cpu": 1250, "memory": 10**9 + 120 * MI}


def test_sidecars_run_beside_the_app_and_the_later_init_containers() -> None:
    """train: the log-shipper sidecar (restartPolicy Always) adds to the trainer (16 + 0.1 CPU) and to
    fetch-data (2 + 0.1 CPU) while it runs; the pod needs the larger."""
    requests = kube_units(pod_requests(pod("pod-train")))
    assert requests == {"cpu": 16_100, "memory": 160 * GI + 50 * MI, "nvidia.com/gpu": 4}
    heavy_init = pod(
        "pod-train",
        initContainers=[
            {"name": "s", "restartPolicy": "Always", "resources": {"requests": {"cpu": "1"}}},
            {"name": "i", "resources": {"requests": {"cpu": "20"}}},
        ],
    )
    assert kube_units(pod_requests(heavy_init))["cpu"] == 21_000  # 20 + the sidecar's 1 > 16 + 1


def test_limits_without_requests_are_the_requests() -> None:
    limits_only = pod(
        "pod-train", initContainers=[], containers=[{"name": "c", "resources": {"limits": {"cpu": "2"}}}]
    )
    assert kube_units(pod_requests(limits_only)) == {"cpu": 2000}


def test_go_nulls_and_unknown_fields_are_accepted_and_bad_quantities_named() -> None:
    args = ExtenderArgs.model_validate(
        {
            "pod": {"metadata": {"name": "p", "labels": None}, "spec": {"tolerations": None}},
            "nodenames": ["a"],
        }
    )
    assert args.pod.metadata.labels == {} and args.node_names == ["a"] and args.nodes is None
    bad = load("pod-web")
    bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "half"
    with pytest.raises(ValidationError) as exc:
        ExtenderArgs.model_validate({"Pod": bad, "NodeNames": []})
    [error] = exc.value.errors()
    assert error["loc"] == ("Pod", "spec", "containers", 0, "resources", "requests", "cpu")
    bad["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "-1"
    with pytest.raises(ValidationError, match="must not be negative"):
        ExtenderArgs.model_validate({"Pod": bad, "NodeNames": []})


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        ({"operator": "Exists"}, {"key": "any", "effect": "NoExecute"}, True),
        ({"key": "k", "operator": "Exists"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
        ({"key": "k", "value": "v"}, {"key": "k", "value": "v", "effect": "NoSchedule"}, True),
        (
            {"key": "k", "operator": "Equal", "value": "w"},
            {"key": "k", "value": "v", "effect": "NoSchedule"},
            False,
        ),
        (
            {"key": "k", "operator": "Exists", "effect": "NoExecute"},
            {"key": "k", "effect": "NoSchedule"},
            False,
        ),
        ({"key": "other", "operator": "Exists"}, {"key": "k", "effect": "NoSchedule"}, False),
    ],
)
def test_tolerations(toleration: dict[str, str], taint: dict[str, str], expected: bool) -> None:
    assert tolerates(Toleration.model_validate(toleration), Taint.model_validate(taint)) is expected


def term(*expressions: dict[str, Any], fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"matchExpressions": list(expressions), "matchFields": fields or []}


def with_affinity(*terms: dict[str, Any]) -> Pod:
    required = {"nodeSelectorTerms": list(terms)}
    return pod(
        "pod-web",
        nodeSelector={},
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}},
    )


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (
            [term({"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["m5.xlarge"]})],
            True,
        ),
        ([term({"key": "missing", "operator": "NotIn", "values": ["x"]})], True),
        ([term({"key": "missing", "operator": "In", "values": ["x"]})], False),
        ([term({"key": "kubernetes.io/os", "operator": "Exists"})], True),
        ([term({"key": "kubernetes.io/os", "operator": "DoesNotExist"})], False),
        ([term({"key": "cores", "operator": "Gt", "values": ["4"]})], True),
        ([term({"key": "cores", "operator": "Lt", "values": ["4"]})], False),
        ([term({"key": "kubernetes.io/os", "operator": "Gt", "values": ["4"]})], False),  # not a number
        ([term(fields=[{"key": "metadata.name", "operator": "In", "values": ["node-a"]}])], True),
        ([term(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["node-a"]}])], False),
        (
            [
                term({"key": "missing", "operator": "Exists"}),
                term({"key": "kubernetes.io/os", "operator": "Exists"}),
            ],
            True,
        ),
        ([term()], False),  # an empty term matches nothing
        ([], False),
    ],
)
def test_required_node_affinity(terms: list[dict[str, Any]], expected: bool) -> None:
    labelled = node("node-a", metadata__labels={**load("node-a")["metadata"]["labels"], "cores": "8"})
    assert matches_node_affinity(with_affinity(*terms), labelled) is expected


def test_node_selector_and_the_web_pods_rules() -> None:
    web = pod("pod-web")
    assert placement_reasons(web, node("node-a")) == []
    zone_c = node(
        "node-a",
        metadata__labels={
            **load("node-a")["metadata"]["labels"],
            "topology.kubernetes.io/zone": "eu-west-1c",
        },
    )
    assert placement_reasons(web, zone_c) == ["node(s) didn't match Pod's node affinity/selector"]
    windows = node(
        "node-a", metadata__labels={**load("node-a")["metadata"]["labels"], "kubernetes.io/os": "windows"}
    )
    assert placement_reasons(web, windows) == ["node(s) didn't match Pod's node affinity/selector"]
    assert placement_reasons(web, node("gpu-1")) == [
        "node(s) didn't match Pod's node affinity/selector",
        "node(s) had untolerated taint {nvidia.com/gpu: present}",
    ]
    assert placement_reasons(web, node("node-c")) == [
        "node(s) were unschedulable",
        "node(s) had untolerated taint {node.kubernetes.io/unschedulable: }",
    ]
    tolerant = pod("pod-web", tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}])
    assert placement_reasons(tolerant, node("node-c")) == []
    prefer = node("node-a", spec__taints=[{"key": "spot", "effect": "PreferNoSchedule"}])
    assert placement_reasons(web, prefer) == []  # a preference is not a filter


def test_the_train_pod_goes_to_gpu_nodes_only() -> None:
    train = pod("pod-train")
    assert placement_reasons(train, node("gpu-1")) == []
    assert placement_reasons(train, node("node-a")) == ["node(s) didn't match Pod's node affinity/selector"]
    spare = node("node-a", metadata__name="gpu-spare")
    assert placement_reasons(train, spare) == []  # the matchFields term


def test_resource_fit_counts_pods_and_every_requested_resource() -> None:
    allocatable = kube_units(node("node-a").allocatable())
    request = kube_units(pod_requests(pod("pod-web")))
    assert fit_reasons(request, allocatable, {}, 0) == []
    assert fit_reasons(request, allocatable, {"cpu": 3000}, 5) == [
        "Insufficient cpu (requests 1250m, free 920m of 3920m)"
    ]
    assert fit_reasons(request, allocatable, {}, 110) == ["Too many pods (110 of 110)"]
    gpu = kube_units(pod_requests(pod("pod-train")))
    assert fit_reasons(gpu, allocatable, {}, 0)[0].startswith("Insufficient cpu")
    assert "Insufficient nvidia.com/gpu (requests 4, free 0 of 0)" in fit_reasons(gpu, allocatable, {}, 0)


def test_family_units_round_requests_up_and_capacity_down() -> None:
    assert family_units({"cpu": 1250, "memory": MI + 1, "nvidia.com/gpu": 4, "pods": 1}, up=True) == {
        "cpu_m": 1250,
        "memory_mib": 2,
        "gpu": 4,
        "pods": 1,
    }
    assert family_units(
        {"memory": 2 * MI - 1, "ephemeral-storage": 3 * MI, "hugepages-2Mi": MI}, up=False
    ) == {
        "memory_mib": 1,
        "ephemeral_storage_mib": 3,
        "hugepages-2Mi_mib": 1,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def named(name: str, cpu: str, memory: str = "8Gi", pods: str = "110") -> tuple[Node, dict[str, Any]]:
    raw = {
        "metadata": {"name": name},
        "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": pods}},
    }
    return Node.model_validate(raw), raw


def simple_pod(name: str, cpu: str, priority: int = 0, node_name: str = "", **spec: Any) -> Pod:
    containers = [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "100Mi"}}}]
    return Pod.model_validate(
        {
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"containers": containers, "priority": priority, "nodeName": node_name, **spec},
        }
    )


def test_the_plan_instance_has_residual_room_eligible_nodes_and_priority_ranks() -> None:
    clock = Clock()
    cache = ClusterCache(pending_ttl_s=30, clock=clock)
    cache.put_nodes([named("n1", "4"), named("n2", "2")], replace=True)
    cache.put_pods([simple_pod("bound", "1", node_name="n1"), simple_pod("done", "1", node_name="n2")])
    cache.saw(simple_pod("high", "1", priority=2_000_000_000))
    cache.saw(simple_pod("low", "500m", priority=-5, nodeSelector={"pool": "x"}))  # eligible nowhere
    cache.saw(
        simple_pod(
            "pinned",
            "1500m",
            priority=7,
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            term(fields=[{"key": "metadata.name", "operator": "In", "values": ["n2"]}])
                        ]
                    }
                }
            },
        )
    )
    instance, digest = cache.plan_instance()
    PodsInstance.model_validate(instance)  # a valid pods instance
    nodes = {n["name"]: n for n in instance["nodes"]}
    assert nodes["n1"]["capacity"] == {"cpu_m": 3000, "memory_mib": 8092, "pods": 109}
    assert nodes["n2"]["capacity"]["cpu_m"] == 1000 and nodes["n1"]["labels"] == {NODE_LABEL: "n1"}
    pods = {p["name"]: p for p in instance["pods"]}
    assert set(pods) == {"ns/high", "ns/pinned"}  # "low" can go nowhere: left out
    assert pods["ns/high"]["priority"] > pods["ns/pinned"]["priority"]  # ranks keep the order of 2e9 vs 7
    assert "node_affinity" not in pods["ns/high"]
    assert pods["ns/pinned"]["node_affinity"] == [{"key": NODE_LABEL, "operator": "In", "values": ["n2"]}]
    assert pods["ns/pinned"]["requests"] == {"cpu_m": 1500, "memory_mib": 100, "pods": 1}
    assert cache.plan_instance()[1] == digest  # same state, same digest (the plan memo's key)
    clock.now += 31
    assert cache.pending_pods() == [] and cache.plan_instance()[0]["pods"] == []


def test_a_pods_sync_replaces_bound_pods_and_ignores_terminated_ones() -> None:
    cache = ClusterCache(pending_ttl_s=30, clock=Clock())
    cache.put_nodes([named("n1", "4")])
    finished = simple_pod("old", "3", node_name="n1")
    finished.status.phase = "Succeeded"
    assert cache.put_pods([simple_pod("a", "1", node_name="n1"), finished, simple_pod("p", "1")]) == (1, 1)
    assert cache.use("n1") == ({"cpu": 1000, "memory": 100 * MI}, 1)
    cache.saw(simple_pod("a", "1"))  # the scheduler asks about it again: pending, not bound
    assert cache.use("n1") == ({}, 0)
