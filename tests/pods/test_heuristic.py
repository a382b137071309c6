"""The kube-scheduler emulation follows upstream's scoring, tie-breaks and preemption."""

from models.pods import PodsInstance
from solver.pods.cluster import build_arrays
from solver.pods.heuristic import best_fit_decreasing, kube_default


def names(arr, st):
    return {
        arr.inst.pods[j].name: (arr.inst.nodes[n].name if n >= 0 else None) for j, n in enumerate(st.node_of)
    }


def inst(nodes, pods, **policy):
    return build_arrays(PodsInstance.model_validate({"nodes": nodes, "pods": pods, "policy": policy}))


def node(name, cpu=4000, mem=8192, **extra):
    return {"name": name, "capacity": {"cpu_m": cpu, "memory_mib": mem}, **extra}


def test_least_allocated_plus_balanced_allocation():
    # node-a after the pod: LeastAllocated (25 + 75) / 2 = 50, Balanced 100 - |0.75 - 0.25| / 2 * 100 = 75
    # -> 125
    # node-b after the pod: LeastAllocated (75 + 37) / 2 = 56, Balanced 100 - 18.75 = 81 -> 137: node-b wins
    arr = inst(
        [node("node-a"), node("node-b")],
        [
            {"name": "old-a", "node": "node-a", "requests": {"cpu_m": 2000, "memory_mib": 1024}},
            {"name": "old-b", "node": "node-b", "requests": {"cpu_m": 0, "memory_mib": 4096}},
            {"name": "new", "requests": {"cpu_m": 1000, "memory_mib": 1024}},
        ],
    )
    assert names(arr, kube_default(arr))["new"] == "node-b"


def test_ties_go_to_the_first_node_by_name():
    arr = inst([node("zeta"), node("alpha"), node("mid")], [{"name": "p", "requests": {"cpu_m": 100}}])
    assert names(arr, kube_default(arr))["p"] == "alpha"


def test_queue_is_priority_then_arrival():
    arr = inst(
        [node("n", cpu=1000)],
        [
            {"name": "early-low", "requests": {"cpu_m": 1000}, "priority": 1},
            {"name": "late-high", "requests": {"cpu_m": 1000}, "priority": 5},
        ],
    )
    assert names(arr, kube_default(arr)) == {"early-low": None, "late-high": "n"}


def test_default_preemption_picks_victims_and_node_as_upstream():
    # n1: removing every lower-priority pod frees room; reprieving the priority-2 pod first leaves
    # both priority-1 pods as victims. n2: one victim suffices (low-3), so n2 wins (fewer victims,
    # smaller priority sum with upstream's 2^31 offset), and low-3 cannot run anywhere afterwards.
    arr = inst(
        [node("n1"), node("n2")],
        [
            {"name": "low-1", "node": "n1", "requests": {"cpu_m": 2000}, "priority": 1},
            {"name": "low-2", "node": "n1", "requests": {"cpu_m": 1000}, "priority": 1},
            {"name": "mid", "node": "n1", "requests": {"cpu_m": 1000}, "priority": 2},
            {"name": "low-3", "node": "n2", "requests": {"cpu_m": 3000}, "priority": 1},
            {"name": "lowish", "node": "n2", "requests": {"cpu_m": 1000}, "priority": 1},
            {"name": "high", "requests": {"cpu_m": 2500}, "priority": 3},
        ],
    )
    placed = names(arr, kube_default(arr))
    assert placed["high"] == "n2" and placed["low-3"] is None
    assert all(placed[p] == "n1" for p in ("low-1", "low-2", "mid")) and placed["lowish"] == "n2"
    no_preemption = names(arr, kube_default(arr, preemption=False))
    assert no_preemption["high"] is None and no_preemption["low-3"] == "n2"


def test_preemption_respects_protection_and_policy():
    pods = [
        {"name": "guarded", "node": "n", "requests": {"cpu_m": 1000}, "priority": 1, "protected": True},
        {"name": "vip", "requests": {"cpu_m": 1000}, "priority": 9},
    ]
    arr = inst([node("n", cpu=1000)], pods)
    assert names(arr, kube_default(arr))["vip"] is None
    pods[0]["protected"] = False
    arr = inst([node("n", cpu=1000)], pods, allow_eviction=False)
    assert names(arr, kube_default(arr))["vip"] is None
    arr = inst([node("n", cpu=1000)], pods)
    assert names(arr, kube_default(arr)) == {"guarded": None, "vip": "n"}


def test_best_fit_decreasing_fills_the_fullest_node():
    arr = inst(
        [node("a", cpu=4000), node("b", cpu=4000)],
        [
            {"name": "big", "requests": {"cpu_m": 3000}},
            {"name": "small", "requests": {"cpu_m": 1000}},
            {"name": "mid", "requests": {"cpu_m": 2000}},
        ],
    )
    assert names(arr, best_fit_decreasing(arr)) == {"big": "a", "mid": "b", "small": "a"}


def test_gpu_devices_whole_and_shared():
    arr = inst(
        [{"name": "g", "capacity": {"cpu_m": 8000, "memory_mib": 8192, "gpu": 2}}],
        [
            {"name": "share-a", "gpu_milli": 600},
            {"name": "share-b", "gpu_milli": 300},
            {"name": "whole", "requests": {"gpu": 1}},
            {"name": "share-c", "gpu_milli": 500},
        ],
    )
    st = kube_default(arr)
    got = {arr.inst.pods[j].name: st.gpus_of[j] for j in range(arr.n_pods)}
    # the two shares pack on device 0 (best fit), the whole GPU takes device 1, nothing is left for share-c
    assert got == {"share-a": [0], "share-b": [0], "whole": [1], "share-c": []}
