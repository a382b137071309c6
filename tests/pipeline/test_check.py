"""The oracle catches every broken rule of a plan and recomputes the objective by itself."""

from __future__ import annotations

import copy

import pytest

import solver
from models.pipeline import Device, Layer, Link, Network, PipelineInstance, Training
from solver.pipeline.plans import evaluate, to_front, to_stage_plan
from solver.pipeline.problem import build
from tests.pipeline.conftest import request

INSTANCE = PipelineInstance(
    layers=[
        Layer(
            name=f"l{k}",
            time_ms={"fast": 1.0 + k, "slow": 2.0 + 2 * k},
            backward_ms={"fast": 2.0, "slow": 4.0},
            weight_bytes=100,
            activation_bytes=125_000_000 * (k + 1),
            activation_memory_bytes=10,
        )
        for k in range(4)
    ],
    devices=[
        Device(name="f0", type="fast", memory_bytes=1000),
        Device(name="f1", type="fast", memory_bytes=250),
        Device(name="s0", type="slow", memory_bytes=1000),
    ],
    network=Network(
        links=[
            Link(a="f0", b="s0", bandwidth_gbps=1.0, latency_ms=0.5),
            Link(a="s0", b="f1", bandwidth_gbps=2.0),
        ]
    ),
)


def good_plan() -> dict:
    p = build(INSTANCE)
    return to_stage_plan(p, [(0, 2, 0), (2, 4, 2)]).model_dump()


def violations(plan: dict, inst: PipelineInstance = INSTANCE) -> list[str]:
    return solver.check("pipeline", inst.model_dump(), plan).violations


def test_a_good_plan_and_its_objective_recomputed():
    plan = good_plan()
    report = solver.check("pipeline", INSTANCE.model_dump(), plan)
    assert report.ok, report.violations
    # f0 computes l0 + l1 = 1 + 2 = 3 ms; 250 MB at 1 Gbps over f0-s0 = 2000 ms + 0.5; s0: 6 + 8 = 14 ms
    assert plan["stages"][0]["send_ms"] == pytest.approx(2000.5)
    assert report.objective == pytest.approx({"bottleneck_ms": 2000.5, "latency_ms": 3 + 2000.5 + 14})


def test_the_best_path_is_used_for_a_transfer():
    """f0 -> f1 has no direct link: through s0, at the narrower 1 Gbps and the latency of the first hop."""
    p = build(INSTANCE)
    plan = to_stage_plan(p, [(0, 1, 0), (1, 4, 1)]).model_dump()
    plan["stages"][1]["memory_bytes"] = 9999
    v = violations(plan)
    assert any("memory_bytes" in x for x in v)
    assert plan["stages"][0]["send_ms"] == pytest.approx(1000.5)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda pl: pl["stages"].pop(), "layers 2..3 are in no stage"),
        (lambda pl: pl["stages"][1].update(layers=[1, 3]), "starts at layer 1; layer 2 must come next"),
        (lambda pl: pl["stages"][1].update(layers=[3, 3]), "starts at layer 3; layer 2 must come next"),
        (lambda pl: pl["stages"][1].update(device="f0"), "device f0 already hosts stage 0"),
        (lambda pl: pl["stages"][1].update(device="nope"), "unknown device nope"),
        (lambda pl: pl["stages"][1].update(layers=[2, 7]), "are not a range within 0..3"),
        (lambda pl: pl["stages"][0].update(compute_ms=1.0), "reports compute_ms 1.0; recomputed 3.0"),
        (lambda pl: pl["stages"][0].update(send_ms=0.0), "reports send_ms 0.0"),
        (lambda pl: pl["objective"].update(bottleneck_ms=14.0), "objective.bottleneck_ms reported 14.0"),
        (lambda pl: pl["objective"].update(latency_ms=1.0), "objective.latency_ms reported 1.0"),
        (lambda pl: pl["stages"].clear(), "the plan has no stage"),
    ],
)
def test_planted_violations_are_caught(edit, expected):
    plan = copy.deepcopy(good_plan())
    edit(plan)
    v = violations(plan)
    assert any(expected in x for x in v), v


def test_memory_of_a_stage_that_does_not_fit():
    plan = good_plan()
    plan["stages"][0]["device"] = "f1"  # f1 has 250 bytes; l0 + l1 need 200 + 20
    v = violations(plan)
    assert not any("need" in x for x in v if "on f1" in x)  # 220 <= 250 fits
    big = INSTANCE.model_copy(
        update={
            "devices": [
                d.model_copy(update={"memory_bytes": 150}) if d.name == "f1" else d for d in INSTANCE.devices
            ]
        }
    )
    assert any(
        "on f1: layers [0, 1] need 220 bytes (200 of weights, 20 of activations x 1); the device has 150" in x
        for x in violations(plan, big)
    )


def test_training_counts_in_flight_activations_and_backward_time():
    inst = INSTANCE.model_copy(
        update={"mode": "training", "training": Training(microbatches=3, state_memory_factor=2.0)}
    )
    p = build(inst)
    plan = to_stage_plan(p, [(0, 2, 0), (2, 4, 2)]).model_dump()
    report = solver.check("pipeline", inst.model_dump(), plan)
    assert report.ok, report.violations
    assert plan["stages"][0]["in_flight"] == 2 and plan["stages"][1]["in_flight"] == 1
    assert plan["stages"][0]["memory_bytes"] == 2 * 200 + 2 * 20
    assert plan["stages"][0]["compute_ms"] == pytest.approx(3 + 4)  # forward 1 + 2, backward 2 + 2
    assert plan["stages"][0]["send_ms"] == pytest.approx(2 * 2000.5)  # activations forward, gradients back
    wrong = copy.deepcopy(plan)
    wrong["stages"][0]["in_flight"] = 1
    assert any("reports in_flight 1; it holds 2" in x for x in violations(wrong, inst))


def test_stage_limit_and_unreachable_devices():
    limited = INSTANCE.model_copy(update={"max_stages": 1})
    assert any("2 stages; at most 1 are allowed" in x for x in violations(good_plan(), limited))
    cut = INSTANCE.model_copy(update={"network": Network(links=[Link(a="f0", b="f1", bandwidth_gbps=1.0)])})
    plan = good_plan()
    assert any("no network path from f0 to s0" in x for x in violations(plan, cut))


def test_a_front_is_checked_plan_by_plan_then_for_order_and_dominance():
    inst = INSTANCE.model_copy(update={"objective": "pareto"})
    p = build(inst)
    a, b = evaluate(p, [(0, 4, 0)]), evaluate(p, [(0, 2, 0), (2, 4, 2)])
    front = to_front(p, [a], True, None).model_dump()
    report = solver.check("pipeline", inst.model_dump(), front)
    assert report.ok and report.objective["bottleneck_ms"] == pytest.approx(10.0)
    assert report.objective["hypervolume_ms2"] > 0
    both = {"plans": [to_stage_plan(p, a.placement).model_dump(), to_stage_plan(p, b.placement).model_dump()]}
    v = violations(both, inst)  # b (2000.5, 2017.5) is dominated by a (10, 10)
    assert any("plans[1] (bottleneck 2000.5, latency 2017.5) is dominated by plans[0]" in x for x in v)
    broken = copy.deepcopy(front)
    broken["plans"][0]["stages"][0]["device"] = "zz"
    assert any(x.startswith("plans[0]: stage 0: unknown device zz") for x in violations(broken, inst))
    assert any("asks for a front" in x for x in violations(good_plan(), inst))
    assert any("asks for one plan, not a front" in x for x in violations(front))


def test_plan_shape_errors_name_the_path():
    with pytest.raises(solver.engine.errors.InvalidInstance) as exc:
        solver.check(
            "pipeline", INSTANCE.model_dump(), {"stages": [{"device": "f0", "layers": [0]}], "objective": {}}
        )
    paths = {e.path() for e in exc.value.errors}
    assert "plan.stages[0].layers[1]" in paths


def test_check_shares_the_solver_result():
    r = solver.solve(request(INSTANCE))
    report = solver.check("pipeline", INSTANCE.model_dump(), r.plan.model_dump())
    assert report.ok and report.objective == r.objective
