"""The checker accepts a valid plan and catches a planted violation of every rule."""

import pytest

from models.pods import PodsInstance, PodsPlan
from solver.pods.check import check

INSTANCE = PodsInstance.model_validate(
    {
        "nodes": [
            {"name": "a", "capacity": {"cpu_m": 4000, "memory_mib": 4096, "gpu": 2}, "labels": {"zone": "x"}},
            {
                "name": "b",
                "capacity": {"cpu_m": 2000, "memory_mib": 2048},
                "labels": {"zone": "y"},
                "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
            },
            {"name": "c", "capacity": {"cpu_m": 2000, "memory_mib": 2048}, "unschedulable": True},
        ],
        "pods": [
            {
                "name": "web-1",
                "group": "web",
                "anti_affinity": "hostname",
                "requests": {"cpu_m": 500},
                "priority": 2,
            },
            {
                "name": "web-2",
                "group": "web",
                "anti_affinity": "hostname",
                "requests": {"cpu_m": 500},
                "priority": 2,
            },
            {
                "name": "db",
                "requests": {"cpu_m": 1000},
                "priority": 3,
                "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "db"}],
            },
            {"name": "train", "requests": {"cpu_m": 1000, "gpu": 1}, "priority": 1, "node": "a", "gpus": [0]},
            {"name": "infer", "requests": {"cpu_m": 500}, "gpu_milli": 600, "priority": 1},
            {"name": "pinned", "requests": {"cpu_m": 100}, "priority": 1, "node": "a", "protected": True},
            {
                "name": "zonal",
                "requests": {"cpu_m": 100},
                "priority": 1,
                "node_selector": {"zone": "x"},
                "node_affinity": [{"key": "zone", "operator": "In", "values": ["x"]}],
            },
        ],
        "policy": {"allow_eviction": True, "max_moves": 1, "max_evictions": 1},
    }
)

VALID = {
    "web-1": ("a", []),
    "web-2": ("b", None),
    "db": ("b", []),
    "train": ("a", [0]),
    "infer": ("a", [1]),
    "pinned": ("a", []),
    "zonal": ("a", []),
}


def plan_with(**changes):
    where = dict(VALID)
    # web-2 on tainted b is not allowed (no toleration): the valid plan keeps it pending
    where["web-2"] = (None, [])
    where.update(changes)
    assignments, moves, evictions, pending, placed = [], [], [], [], {}
    for pod in INSTANCE.pods:
        node, gpus = where[pod.name]
        assignments.append({"pod": pod.name, "node": node, "gpus": gpus or []})
        if node is None:
            (evictions if pod.node else pending).append(pod.name)
        else:
            placed[pod.priority] = placed.get(pod.priority, 0) + 1
            if pod.node and node != pod.node:
                moves.append({"pod": pod.name, "from_node": pod.node, "to_node": node})
    return PodsPlan.model_validate(
        {
            "assignments": assignments,
            "moves": moves,
            "evictions": evictions,
            "pending": pending,
            "placed_by_priority": placed,
        }
    )


def test_valid_plan_passes_with_its_objective():
    report = check(INSTANCE, plan_with())
    assert report.ok, report.violations
    assert report.objective == {
        "placed_priority_3": 1,
        "placed_priority_2": 1,
        "placed_priority_1": 4,
        "evictions": 0,
        "moves": 0,
    }


@pytest.mark.parametrize(
    "changes,expected",
    [
        ({"web-2": ("a", [])}, "despite anti-affinity"),
        ({"web-2": ("b", [])}, "does not tolerate taint"),
        ({"zonal": ("b", [])}, "node_selector zone=x"),
        ({"web-2": ("c", [])}, "unschedulable"),
        ({"db": ("a", []), "web-2": ("c", [])}, "unschedulable"),
        ({"infer": ("a", [0])}, "held whole"),
        ({"infer": ("a", [5])}, "which has 2"),
        ({"infer": ("a", [])}, "needs 1 distinct GPU devices"),
        ({"train": ("a", [1]), "infer": ("a", [0])}, "changes devices"),
        ({"pinned": ("b", [])}, "protected pod pinned moved"),
        ({"pinned": (None, [])}, "protected pod pinned evicted"),
        ({"train": (None, []), "pinned": (None, [])}, "exceed max_evictions"),
    ],
)
def test_planted_violation_is_caught(changes, expected):
    report = check(INSTANCE, plan_with(**changes))
    assert not report.ok
    assert any(expected in v for v in report.violations), report.violations


def test_capacity_overflow_is_caught():
    inst = INSTANCE.model_copy(deep=True)
    inst.pods[2].requests["cpu_m"] = 3000  # db on b (2000 m)
    report = check(inst, plan_with())
    assert any("over capacity on cpu_m" in v for v in report.violations)


def test_shared_device_beyond_1000_milli_is_caught():
    inst = INSTANCE.model_copy(deep=True)
    inst.pods.append(inst.pods[4].model_copy(update={"name": "infer-2"}))
    plan = plan_with()
    plan.assignments.append(plan.assignments[4].model_copy(update={"pod": "infer-2"}))
    plan.placed_by_priority[1] += 1
    assert any("shared beyond 1000" in v for v in check(inst, plan).violations)


def test_policy_caps_and_plan_bookkeeping_are_checked():
    no_evict = INSTANCE.model_copy(
        update={"policy": INSTANCE.policy.model_copy(update={"allow_eviction": False})}
    )
    assert any("forbids eviction" in v for v in check(no_evict, plan_with(train=(None, []))).violations)
    capped = INSTANCE.model_copy(update={"policy": INSTANCE.policy.model_copy(update={"max_moves": 0})})
    assert any("exceed max_moves" in v for v in check(capped, plan_with(train=("b", []))).violations)
    plan = plan_with()
    plan.pending = []
    assert any("plan.pending" in v for v in check(INSTANCE, plan).violations)
    plan = plan_with()
    plan.assignments = plan.assignments[1:]
    assert any("missing from the plan" in v for v in check(INSTANCE, plan).violations)
