"""The checker accepts a valid plan with its objective and catches a planted violation of every rule."""

from __future__ import annotations

import copy

import pytest

from models.workflow import WorkflowInstance, WorkflowPlan
from solver.workflow.check import check

INSTANCE = WorkflowInstance.model_validate(
    {
        "tasks": [
            {"id": "a", "modes": [{"duration": 2, "demands": {"gpu": 2}}]},
            {
                "id": "b",
                "modes": [
                    {"duration": 3, "demands": {"gpu": 2, "money": 3}},
                    {"duration": 5, "demands": {"gpu": 1, "money": 1}},
                ],
                "predecessors": [{"task": "a"}],
            },
            {
                "id": "c",
                "modes": [{"duration": 2, "demands": {"gpu": 1, "cpu": 2}}],
                "predecessors": [{"task": "a", "min_lag": 1}],
            },
            {
                "id": "d",
                "modes": [{"duration": 1, "demands": {"cpu": 1}}],
                "predecessors": [{"task": "b"}, {"task": "c"}],
                "due": 6,
                "weight": 2,
                "deadline": 10,
            },
            {"id": "e", "modes": [{"duration": 4, "demands": {"gpu": 1}}], "release": 1},
        ],
        "resources": [
            {"name": "gpu", "capacity": 3, "calendar": [{"start": 8, "end": 10, "capacity": 1}]},
            {"name": "cpu", "capacity": 2},
        ],
        "nonrenewable": [{"name": "money", "budget": 2}],
        "disjunctive": [["c", "e"]],
        "objective": "weighted_tardiness",
    }
)

# a [0,2); b in its slow mode [2,7); c [3,5) after a + lag 1; e [5,9) after c (disjunctive); d [7,8), 2 late
VALID = {
    "tasks": [
        {"id": "a", "start": 0, "end": 2, "mode": 0},
        {"id": "b", "start": 2, "end": 7, "mode": 1},
        {"id": "c", "start": 3, "end": 5, "mode": 0},
        {"id": "d", "start": 7, "end": 8, "mode": 0},
        {"id": "e", "start": 5, "end": 9, "mode": 0},
    ],
    "profile": {
        "gpu": [[0, 2], [2, 1], [3, 2], [7, 1], [9, 0]],
        "cpu": [[0, 0], [3, 2], [5, 0], [7, 1], [8, 0]],
    },
    "consumed": {"money": 1},
    "critical_chain": ["a", "c", "e"],
}


def plan_with(**moves: tuple[int, int]) -> WorkflowPlan:
    """The valid plan with tasks moved: id=(start, mode); profile and consumption kept as they were."""
    body = copy.deepcopy(VALID)
    for t in body["tasks"]:
        if t["id"] in moves:
            start, mode = moves[t["id"]]
            duration = INSTANCE.tasks[[x.id for x in INSTANCE.tasks].index(t["id"])].modes[mode].duration
            t.update(start=start, end=start + duration, mode=mode)
    return WorkflowPlan.model_validate(body)


def test_valid_plan_passes_with_its_objective():
    report = check(INSTANCE, WorkflowPlan.model_validate(VALID))
    assert report.ok, report.violations
    assert report.objective == {"weighted_tardiness": 4.0, "makespan": 9.0}


def test_each_objective_is_recomputed():
    plan = WorkflowPlan.model_validate(VALID)
    completion = INSTANCE.model_copy(update={"objective": "weighted_completion"})
    assert check(completion, plan).objective == {
        "weighted_completion": 2 + 7 + 5 + 2 * 8 + 9,
        "makespan": 9.0,
    }
    assert check(INSTANCE.model_copy(update={"objective": "makespan"}), plan).objective == {"makespan": 9.0}


@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        ({"b": (1, 1)}, "before predecessor a ends (2) plus lag 0"),
        ({"c": (2, 0)}, "before predecessor a ends (2) plus lag 1"),
        ({"e": (0, 0)}, "before its release 1"),
        ({"d": (10, 0)}, "after its deadline 10"),
        ({"e": (4, 0)}, "overlap in disjunctive set 0"),
        ({"b": (2, 0)}, "consume 3, above its budget 2"),
    ],
    ids=["precedence", "lag", "release", "deadline", "disjunctive", "budget"],
)
def test_planted_violation_is_caught(moves, expected):
    report = check(INSTANCE, plan_with(**moves))
    assert not report.ok
    assert any(expected in v for v in report.violations), report.violations


def test_capacity_overload_is_caught_at_its_time():
    inst = INSTANCE.model_copy(deep=True)
    inst.tasks[2].modes[0].demands["gpu"] = 2  # at [3,5): b 1 + c 2 = 3, full; e moved in overloads it
    inst.disjunctive = []
    plan = plan_with(e=(3, 0))
    report = check(inst, plan)
    assert any(
        "resource gpu over capacity at t=3: 4 > 3 (held by b (1), c (2), e (1))" in v
        for v in report.violations
    )


def test_calendar_window_is_capacity_there():
    inst = INSTANCE.model_copy(deep=True)
    inst.tasks[1].modes[1].duration = 8  # b [2,10) in its slow mode overlaps the window [8,10) with e
    plan = plan_with(b=(2, 1))
    report = check(inst, plan)
    assert any("resource gpu over capacity at t=8: 2 > 1" in v for v in report.violations), report.violations


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p["tasks"][0].update(mode=3), "task a uses mode 3; it has modes 0..0"),
        (lambda p: p["tasks"][0].update(end=3), "task a runs [0, 3) but mode 0 lasts 2"),
        (lambda p: p["tasks"].pop(), "task e missing from the plan"),
        (lambda p: p["tasks"].append(dict(p["tasks"][0])), "task a scheduled twice"),
        (lambda p: p["tasks"].append({"id": "z", "start": 0, "end": 1}), "unknown task z"),
        (lambda p: p["tasks"].reverse(), "not in the instance's task order"),
        (lambda p: p["profile"]["gpu"].pop(), "plan.profile does not match"),
        (lambda p: p["consumed"].update(money=0), "plan.consumed"),
        (lambda p: p.update(critical_chain=["a", "c"]), "not at the makespan 9"),
        (lambda p: p.update(critical_chain=["a", "b", "e"]), "link b -> e is not tight"),
        (lambda p: p.update(critical_chain=["a", "x"]), "not in the plan"),
        (lambda p: p.update(critical_chain=[]), "critical_chain is empty"),
    ],
    ids=[
        "mode",
        "end",
        "missing",
        "twice",
        "unknown",
        "order",
        "profile",
        "consumed",
        "chain end",
        "chain link",
        "chain unknown",
        "chain empty",
    ],
)
def test_plan_bookkeeping_is_checked(edit, expected):
    body = copy.deepcopy(VALID)
    edit(body)
    report = check(INSTANCE, WorkflowPlan.model_validate(body))
    assert any(expected in v for v in report.violations), report.violations


def test_negative_start_is_caught():
    report = check(INSTANCE, plan_with(a=(-1, 0)))
    assert any("starts before time 0" in v for v in report.violations)
