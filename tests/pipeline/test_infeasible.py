"""No plan fits: proven `infeasible`, and the explanation says which stage cannot fit where, with numbers."""

from __future__ import annotations

import solver
from models.pipeline import Device, Layer, Link, Network, PipelineInstance, Training
from tests.pipeline.conftest import request


def instance(weights, memories, **extra) -> PipelineInstance:
    return PipelineInstance(
        layers=[
            Layer(name=f"l{k}", time_ms={"t": 1.0}, backward_ms={"t": 2.0}, weight_bytes=w)
            for k, w in enumerate(weights)
        ],
        devices=[Device(name=f"d{i}", type="t", memory_bytes=m) for i, m in enumerate(memories)],
        **extra,
    )


def test_a_layer_larger_than_every_device():
    r = solver.solve(request(instance([100, 5000, 100], [4000, 3000])))
    assert r.status == "infeasible" and r.plan is None
    [why] = r.explanations
    assert why.item == "l1" and why.constraint == "memory"
    assert (
        "layer l1 (#1) alone needs 4.88 KiB" in why.message
        and "the largest device, d0, has 3.91 KiB" in why.message
    )
    assert why.data["needs_bytes"] == 5000 and why.data["device_bytes"] == 4000


def test_the_model_larger_than_all_devices_together():
    r = solver.solve(request(instance([600] * 10, [2000, 2000, 1000])))
    [why] = r.explanations
    assert r.status == "infeasible" and why.item == "model"
    assert why.data == {"needs_bytes": 6000.0, "devices_bytes": 5000}
    assert "all 3 devices together hold" in why.message


def test_which_stage_cannot_fit_where_when_the_totals_would():
    """18 bytes of layers on 10 + 4 + 4 bytes of devices: d0 takes the last layer, and the stage that must
    end at layer l1 fits on neither 4-byte device."""
    r = solver.solve(request(instance([6, 6, 6], [10, 4, 4])))
    assert r.status == "infeasible"
    [why] = r.explanations
    assert why.item == "layers 0..1" and why.constraint == "memory"
    assert why.data["covered_by"] == {"d0": [2, 2]} and why.data["free_devices"] == {"d1": 4, "d2": 4}
    assert "from layer l2 (#2) to the end at best (d0 [2, 2])" in why.message
    assert "the stage that must end at layer l1 (#1) fits on no device left" in why.message
    assert "the largest device left, d1 (4 B), cannot hold layer l1 (#1) (6 B" in why.message


def test_training_in_flight_activations_are_what_does_not_fit():
    """Each layer fits with one microbatch in flight, but the first of two stages holds two."""
    layers = [
        Layer(
            name=f"l{k}",
            time_ms={"t": 1.0},
            backward_ms={"t": 1.0},
            weight_bytes=10,
            activation_memory_bytes=50,
        )
        for k in range(2)
    ]
    devices = [Device(name=f"d{i}", type="t", memory_bytes=95) for i in range(2)]
    inst = PipelineInstance(
        layers=layers,
        devices=devices,
        mode="training",
        training=Training(microbatches=2, state_memory_factor=4.0),
    )
    r = solver.solve(request(inst))
    assert r.status == "infeasible"
    [why] = r.explanations
    assert "x 2 in flight" in why.message and why.data["covered_by"] == {"d0": [1, 1]}
    inst.training = Training(microbatches=1, state_memory_factor=4.0)
    assert solver.solve(request(inst)).status == "optimal"


def test_the_stage_limit_is_named_when_it_is_what_binds():
    r = solver.solve(request(instance([6, 6, 6], [12, 12, 12], max_stages=1)))
    assert r.status == "infeasible"
    [why] = r.explanations
    assert "at most 1 largest" not in why.message
    assert "the 1 largest of the 3 devices (at most 1 stage) together hold 12 B" in why.message


def test_devices_that_could_hold_the_stages_but_reach_no_one():
    """Each device holds one layer, so three stages on three devices; d2 has no link: the network binds,
    and the explanation says so rather than blaming memory."""
    links = Network(links=[Link(a="d0", b="d1", bandwidth_gbps=1.0)])
    r = solver.solve(request(instance([100, 100, 100], [150, 150, 150], network=links)))
    assert r.status == "infeasible"
    [why] = r.explanations
    assert why.item == "network" and why.constraint == "network"
    assert "memory alone admits a plan (" in why.message and "there is none from" in why.message
    assert "d2" in why.data["memory_plan"] and why.data["no_path"]
    linked = Network(
        links=[Link(a="d0", b="d1", bandwidth_gbps=1.0), Link(a="d1", b="d2", bandwidth_gbps=1.0)]
    )
    assert (
        solver.solve(request(instance([100, 100, 100], [150, 150, 150], network=linked))).status == "optimal"
    )
