"""Bad input is an error naming the field (a JSON path) and the reason, never a plan."""

import pytest

import solver
from solver.engine.errors import InvalidInstance

NODES = [{"name": "n1", "capacity": {"cpu_m": 1000, "memory_mib": 1024, "gpu": 2}}]


def request(pods, nodes=NODES, **options):
    return {
        "kind": "pods",
        "instance": {"nodes": nodes, "pods": pods},
        "options": {"time_limit_s": 0.2, **options},
    }


def errors_of(req):
    with pytest.raises(InvalidInstance) as exc:
        solver.solve(req)
    return {e.path(): e.msg for e in exc.value.errors}


def test_unknown_node_of_a_running_pod():
    errs = errors_of(request([{"name": "p", "node": "ghost"}]))
    assert errs == {"instance.pods[0].node": "running pod names an unknown node"}


def test_duplicate_names():
    errs = errors_of(request([{"name": "p"}, {"name": "p"}], nodes=NODES + NODES))
    assert "duplicate pod name" in errs["instance.pods[1].name"]
    assert "duplicate node name" in errs["instance.nodes[1].name"]


@pytest.mark.parametrize("value,reason", [(-1, "greater than or equal to 0"), (1.5, "valid integer")])
def test_negative_or_fractional_requests(value, reason):
    errs = errors_of(request([{"name": "p", "requests": {"cpu_m": value}}]))
    assert reason in errs["instance.pods[0].requests.cpu_m"]


def test_running_pods_overflowing_their_node():
    pods = [{"name": f"p{i}", "node": "n1", "requests": {"cpu_m": 600}} for i in range(2)]
    errs = errors_of(request(pods))
    assert "request 1200 cpu_m, more than its capacity 1000" in errs["instance.nodes[0].capacity.cpu_m"]


@pytest.mark.parametrize("limit", [0, -1, 600.5, 1e9])
def test_time_limit_outside_the_accepted_range(limit):
    errs = errors_of(request([{"name": "p"}], time_limit_s=limit))
    assert "options.time_limit_s" in errs


def test_gpu_rules():
    errs = errors_of(
        request(
            [
                {"name": "a", "requests": {"gpu": 1}, "gpu_milli": 500},
                {"name": "c", "node": "n1", "requests": {"gpu": 1}, "gpus": [7]},
                {"name": "d", "gpus": [0]},
            ]
        )
    )
    assert "excludes whole GPUs" in errs["instance.pods[0].gpu_milli"]
    assert "out of range" in errs["instance.pods[1].gpus"]
    assert "only a running pod" in errs["instance.pods[2].gpus"]
    errs = errors_of(request([{"name": "b", "gpu_milli": 1000}]))
    assert "less than or equal to 999" in errs["instance.pods[0].gpu_milli"]


def test_anti_affinity_needs_a_consistent_group():
    errs = errors_of(
        request(
            [
                {"name": "a", "anti_affinity": "hostname"},
                {"name": "b", "group": "g", "anti_affinity": "hostname"},
                {"name": "c", "group": "g"},
            ]
        )
    )
    assert "needs the pod's group" in errs["instance.pods[0].anti_affinity"]
    assert "disagree on anti_affinity" in errs["instance.pods[2].anti_affinity"]


def test_unknown_field_is_named():
    errs = errors_of(request([{"name": "p", "prority": 3}]))
    assert "instance.pods[0].prority" in errs


def test_amounts_are_bounded():
    errs = errors_of(request([{"name": "p", "requests": {"cpu_m": 10**13}}]))
    assert "less than or equal to 1000000000000" in errs["instance.pods[0].requests.cpu_m"]
    errs = errors_of(request([], nodes=[{"name": "n", "capacity": {"gpu": 100000}}]))
    assert "at most 256 GPU devices" in errs["instance.nodes[0].capacity.gpu"]
