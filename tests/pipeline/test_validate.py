"""Bad input is a validation error naming the JSON path and the reason, never a status."""

from __future__ import annotations

from typing import Any

import pytest

import solver
from solver.engine.errors import InvalidInstance
from tests.pipeline.conftest import shipped


def base() -> dict[str, Any]:
    return {
        "layers": [
            {
                "name": "l0",
                "time_ms": {"edge-a": 462.7, "edge-b": 380.1},
                "weight_bytes": 26808320,
                "activation_bytes": 9682944,
            },
            {
                "name": "l1",
                "time_ms": {"edge-a": 80.5, "edge-b": 65.5},
                "weight_bytes": 18927616,
                "activation_bytes": 4841472,
            },
        ],
        "devices": [
            {"name": "mb-0", "type": "edge-a", "memory_bytes": 2147483648},
            {"name": "rcc-0", "type": "edge-b", "memory_bytes": 8589934592},
        ],
        "network": {"bandwidth_gbps": 1.0, "latency_ms": 0.0},
        "mode": "inference",
        "objective": "throughput",
    }


def errors(instance: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInstance) as exc:
        solver.solve({"kind": "pipeline", "instance": instance, "options": {"time_limit_s": 1.0}})
    return {e.path(): e.msg for e in exc.value.errors}


def test_the_issue_contract_solves():
    r = solver.solve({"kind": "pipeline", "instance": base(), "options": {"time_limit_s": 1.0}})
    assert r.status == "optimal" and r.plan.stages[0].device in ("mb-0", "rcc-0")


def test_duplicate_names():
    inst = base()
    inst["layers"][1]["name"] = "l0"
    inst["devices"][1]["name"] = "mb-0"
    got = errors(inst)
    assert got["instance.layers[1].name"] == "duplicate name (also layers[0])"
    assert got["instance.devices[1].name"] == "duplicate name (also devices[0])"


def test_a_device_type_without_a_time():
    inst = base()
    del inst["layers"][1]["time_ms"]["edge-b"]
    got = errors(inst)
    assert "no forward time for device type edge-b (rcc-0)" in got["instance.layers[1].time_ms"]


def test_flops_need_the_devices_tflops_and_one_per_type():
    inst = base()
    inst["layers"][1] = {"name": "l1", "flops": 2e12, "weight_bytes": 1}
    got = errors(inst)["instance.layers[1].time_ms"]
    assert "edge-a (mb-0), edge-b (rcc-0): give time_ms for it, or flops with the devices' tflops" in got
    for dev in inst["devices"]:
        dev["tflops"] = 10.0
    r = solver.solve({"kind": "pipeline", "instance": inst, "options": {"time_limit_s": 1.0}})
    assert r.status == "optimal"
    inst["devices"].append({"name": "mb-1", "type": "edge-a", "memory_bytes": 1, "tflops": 5.0})
    assert "must share one tflops" in errors(inst)["instance.devices[2].tflops"]


def test_training_needs_backward_times_and_its_settings_need_training():
    inst = base()
    inst["mode"] = "training"
    got = errors(inst)["instance.layers[0].backward_ms"]
    assert "training needs a backward time for device type edge-a, edge-b" in got
    inst = base()
    inst["training"] = {"microbatches": 4}
    assert errors(inst)["instance.training"] == "training settings need mode 'training'"


@pytest.mark.parametrize(
    ("network", "path", "reason"),
    [
        ({"bandwidth_gbps": 0.0}, "instance.network.bandwidth_gbps", "must be > 0 and finite, got 0.0"),
        ({"bandwidth_gbps": [[0, 1]]}, "instance.network.bandwidth_gbps", "one row per device (2)"),
        (
            {"bandwidth_gbps": [[0, 1], [1]]},
            "instance.network.bandwidth_gbps[1]",
            "one entry per device (2), got 1",
        ),
        (
            {"bandwidth_gbps": [[0, -2], [1, 0]]},
            "instance.network.bandwidth_gbps[0][1]",
            ">= 0 and finite (0: no direct link), got -2",
        ),
        (
            {"bandwidth_gbps": 1.0, "latency_ms": [[0, -1], [0, 0]]},
            "instance.network.latency_ms[0][1]",
            ">= 0",
        ),
        (
            {"links": [{"a": "mb-0", "b": "zz", "bandwidth_gbps": 1}]},
            "instance.network.links[0].b",
            "unknown device 'zz'; the devices are mb-0, rcc-0",
        ),
        (
            {"links": [{"a": "mb-0", "b": "mb-0", "bandwidth_gbps": 1}]},
            "instance.network.links[0].b",
            "a link joins two different devices; both ends are 'mb-0'",
        ),
        ({"links": [], "bandwidth_gbps": 1.0}, "instance.network.bandwidth_gbps", "not both"),
        ({"latency_ms": 1.0}, "instance.network", "give bandwidth_gbps"),
    ],
)
def test_network_errors(network, path, reason):
    inst = base()
    inst["network"] = network
    got = errors(inst)
    assert reason in got[path], got


def test_shape_errors_come_from_the_models():
    inst = base()
    inst["devices"][0]["memory_bytes"] = 0
    inst["layers"][0]["time_ms"]["edge-a"] = -1
    inst["objective"] = "fastest"
    inst["extra"] = 1
    got = errors(inst)
    assert set(got) >= {
        "instance.devices[0].memory_bytes",
        "instance.layers[0].time_ms.edge-a",
        "instance.objective",
        "instance.extra",
    }


def test_shipped_example_is_valid():
    req = shipped("example.json")
    assert solver.validate("pipeline", req["instance"]) is not None
