"""The scheduler extender over HTTP, with ExtenderArgs shaped exactly as kube-scheduler sends them
(extender/v1: capitalised Go field names, whole v1 objects, null for the unused one of Nodes/NodeNames)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.service.helpers import Live, hard_request, live_server, service_settings

DATA = Path(__file__).parent / "data" / "k8s"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"{name}.json").read_text())


def node_list(*nodes: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": ""}, "items": list(nodes)}


def args(
    pod: dict[str, Any], nodes: list[dict[str, Any]] | None = None, names: list[str] | None = None
) -> dict[str, Any]:
    """kube-scheduler's json.Marshal of ExtenderArgs: both keys present, one of them null."""
    return {"Pod": pod, "Nodes": node_list(*nodes) if nodes is not None else None, "NodeNames": names}


def zone_c(node: dict[str, Any], name: str) -> dict[str, Any]:
    other = copy.deepcopy(node)
    other["metadata"]["name"] = name
    other["metadata"]["labels"]["topology.kubernetes.io/zone"] = "eu-west-1c"
    return other


def test_filter_with_whole_nodes_returns_the_nodes_that_pass_unchanged(live: Live) -> None:
    nodes = [load("node-a"), zone_c(load("node-a"), "node-b"), load("gpu-1"), load("node-c")]
    response = live.client.post("/k8s/filter", json=args(load("pod-web"), nodes=nodes))
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"Nodes", "NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"}
    assert result["Nodes"]["items"] == [load("node-a")]  # the very object: kube-scheduler uses it as is
    assert result["NodeNames"] is None and result["Error"] == "" and result["FailedNodes"] == {}
    unresolvable = result["FailedAndUnresolvableNodes"]
    assert set(unresolvable) == {"node-b", "gpu-1", "node-c"}
    assert unresolvable["node-b"] == "node(s) didn't match Pod's node affinity/selector"
    assert "untolerated taint {nvidia.com/gpu: present}" in unresolvable["gpu-1"]
    assert unresolvable["node-c"].startswith("node(s) were unschedulable")


def test_filter_with_node_names_uses_synced_nodes_and_names_the_unknown(live: Live) -> None:
    sync = live.client.put("/k8s/nodes", json=node_list(load("node-a"), load("gpu-1")))
    assert sync.status_code == 200 and sync.json()["nodes"] == 2
    response = live.client.post(
        "/k8s/filter", json=args(load("pod-train"), names=["node-a", "gpu-1", "gpu-9"])
    )
    result = response.json()
    assert result["NodeNames"] == ["gpu-1"] and result["Nodes"] is None
    assert "unknown to the schedopt extender" in result["FailedNodes"]["gpu-9"]
    assert set(result["FailedAndUnresolvableNodes"]) == {"node-a"}


def test_bound_pods_from_a_sync_use_up_room(live: Live) -> None:
    live.client.put("/k8s/nodes", json=node_list(load("gpu-1")))
    running = []
    for i in range(2):  # two trainers of 4 GPUs each fill the 8 of gpu-1
        pod = copy.deepcopy(load("pod-train"))
        pod["metadata"]["name"], pod["spec"]["nodeName"], pod["status"]["phase"] = (
            f"running-{i}",
            "gpu-1",
            "Running",
        )
        running.append(pod)
    finished = copy.deepcopy(running[0])
    finished["metadata"]["name"], finished["status"]["phase"] = "train-old", "Succeeded"
    synced = live.client.put(
        "/k8s/pods", json={"apiVersion": "v1", "kind": "PodList", "items": [*running, finished]}
    )
    assert synced.json() == {"nodes": 1, "bound_pods": 2, "pending_pods": 0}
    result = live.client.post("/k8s/filter", json=args(load("pod-train"), names=["gpu-1"])).json()
    assert result["NodeNames"] == []
    assert result["FailedNodes"]["gpu-1"] == "Insufficient nvidia.com/gpu (requests 4, free 0 of 8)"
    assert result["FailedAndUnresolvableNodes"] == {}  # preemption could help: a resolvable failure


def small_node(name: str, cpu: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}, "capacity": {"cpu": cpu}},
    }


def cpu_pod(name: str, cpu: str, priority: int = 10) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
        "spec": {
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}}}],
            "priority": priority,
            "schedulerName": "default-scheduler",
        },
        "status": {"phase": "Pending"},
    }


def test_prioritize_favours_the_node_of_the_cluster_wide_plan(live: Live) -> None:
    """n1 has 4 CPUs, n2 has 2; pending: small (2 CPUs), then big (4 CPUs). Spreading (kube's
    LeastAllocated) puts small on n1 and strands big; the plan puts small on n2 and big on n1."""
    nodes = [small_node("n1", "4"), small_node("n2", "2")]
    small, big = cpu_pod("small", "2"), cpu_pod("big", "4")
    for pod in (small, big):
        live.client.post("/k8s/filter", json=args(pod, nodes=nodes)).raise_for_status()
    scores = live.client.post("/k8s/prioritize", json=args(small, nodes=nodes))
    assert scores.status_code == 200
    assert scores.json() == [{"Host": "n1", "Score": 0}, {"Host": "n2", "Score": 10}]
    scores = live.client.post("/k8s/prioritize", json=args(big, names=["n1", "n2"]))
    assert scores.json() == [{"Host": "n1", "Score": 10}, {"Host": "n2", "Score": 0}]
    assert live.client.get("/k8s/cluster").json() == {"nodes": 2, "bound_pods": 0, "pending_pods": 2}


def test_prioritize_scores_other_feasible_nodes_below_the_plan(live: Live) -> None:
    nodes = [small_node("a", "8"), small_node("b", "4"), small_node("c", "1")]
    pod = cpu_pod("p", "1")
    scores = {
        s["Host"]: s["Score"] for s in live.client.post("/k8s/prioritize", json=args(pod, nodes=nodes)).json()
    }
    assert sorted(scores.values(), reverse=True)[0] == 10 and list(scores.values()).count(10) == 1
    assert all(0 <= s <= 10 for s in scores.values())
    others = {h: s for h, s in scores.items() if s != 10}
    assert all(1 <= s <= 9 for s in others.values())  # the pod fits on every node


def test_go_casing_and_bad_input(live: Live) -> None:
    lower = {"pod": cpu_pod("p", "1"), "nodenames": [], "nodes": None}
    assert live.client.post("/k8s/filter", json=lower).json()["NodeNames"] == []
    bad = cpu_pod("p", "half a CPU")
    response = live.client.post("/k8s/filter", json=args(bad, names=[]))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == [
        "body",
        "Pod",
        "spec",
        "containers",
        0,
        "resources",
        "requests",
        "cpu",
    ]
    neither = live.client.post(
        "/k8s/prioritize", json={"Pod": cpu_pod("p", "1"), "Nodes": None, "NodeNames": None}
    )
    assert neither.status_code == 422 and "NodeNames" in neither.json()["detail"][0]["msg"]
    for body in (b"[]", b"{", b'{"Nodes": null}'):
        response = live.client.post("/k8s/filter", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422


@pytest.mark.parametrize("verb", ["filter", "prioritize"])
def test_too_many_nodes_is_413(tmp_path: Path, verb: str) -> None:
    with live_server(service_settings(tmp_path, instance_limits={"pods.nodes": 1})) as live:
        nodes = [small_node("a", "1"), small_node("b", "1")]
        response = live.client.post(f"/k8s/{verb}", json=args(cpu_pod("p", "1"), nodes=nodes))
        assert (
            response.status_code == 413 and "SCHEDOPT_INSTANCE_LIMITS" in response.json()["detail"][0]["msg"]
        )


def test_prioritize_answers_even_when_no_worker_is_free(tmp_path: Path) -> None:
    """The extender must answer in time: with the pool busy it scores by packing alone."""
    with live_server(service_settings(tmp_path, workers=1)) as live:
        blocker = live.client.post(
            "/v1/jobs", json=hard_request(5.0), headers={"X-Schedopt-Fault": "hang"}
        ).json()
        nodes = [small_node("n1", "4"), small_node("n2", "2")]
        response = live.client.post("/k8s/prioritize", json=args(cpu_pod("p", "1"), nodes=nodes))
        assert response.status_code == 200
        assert all(1 <= s["Score"] <= 9 for s in response.json())  # fits everywhere, no plan: no 10
        live.client.delete(blocker["links"]["job"])


def test_sync_endpoints_reject_what_is_not_a_list(live: Live) -> None:
    assert (
        live.client.put(
            "/k8s/nodes",
            json={"items": [{"metadata": {"name": "x"}, "status": {"allocatable": {"cpu": "x"}}}]},
        ).status_code
        == 422
    )
    assert isinstance(live.client.get("/k8s/cluster").json()["nodes"], int)


def test_the_sample_scheduler_configuration_names_our_routes(live: Live) -> None:
    import yaml

    config = yaml.safe_load(
        (Path(__file__).parents[2] / "service" / "k8s" / "kube-scheduler-config.yaml").read_text()
    )
    assert (
        config["apiVersion"] == "kubescheduler.config.k8s.io/v1"
        and config["kind"] == "KubeSchedulerConfiguration"
    )
    [extender] = config["extenders"]
    prefix = "/" + extender["urlPrefix"].split("/", 3)[3]
    paths = live.client.get("/openapi.json").json()["paths"]
    for verb in (extender["filterVerb"], extender["prioritizeVerb"]):
        assert "post" in paths[f"{prefix}/{verb}"]
    assert extender["weight"] >= 1 and isinstance(extender["nodeCacheCapable"], bool)
    assert "preemptVerb" not in extender and "bindVerb" not in extender


def test_two_spellings_of_a_field_the_last_one_counts_like_go(live: Live) -> None:
    one, two = small_node("one", "1"), small_node("two", "1")
    body = {"Pod": cpu_pod("p", "1"), "nodes": node_list(one), "Nodes": node_list(one, two)}
    result = live.client.post("/k8s/filter", json=body).json()
    assert [n["metadata"]["name"] for n in result["Nodes"]["items"]] == ["one", "two"]
