"""The SGS baselines: every rule's plan is feasible, the best-of-rules is the best rule, forward-backward
improvement never makes the makespan worse, and the whole set takes milliseconds."""

from __future__ import annotations

import time

import pytest

from models.workflow import WorkflowInstance
from solver.engine.budget import Deadline
from solver.workflow import FAMILY, sgs
from solver.workflow.check import check
from solver.workflow.heuristic import improve, rule_runs
from solver.workflow.plans import to_plan
from tests.workflow.bruteforce import best_objective
from tests.workflow.conftest import j30_optima, jobshop, psplib
from tests.workflow.tiny import tiny_instance

J30 = sorted(j30_optima())


@pytest.mark.parametrize("name", J30)
def test_rules_give_feasible_plans_and_fbi_never_worse(name):
    inst = psplib(name)
    p = FAMILY.prepare(inst)
    runs = FAMILY.heuristics(p, Deadline(1.0))
    assert [r.name for r in runs[:5]] == ["sgs-best-of-rules", "sgs-lft", "sgs-mts", "sgs-grpw", "sgs-spt"]
    reports = [check(inst, r.plan) for r in runs]
    assert all(rep.ok for rep in reports), [rep.violations for rep in reports]
    makespans = [rep.objective["makespan"] for rep in reports]
    assert makespans[0] == min(makespans[1:5])  # the baseline is the best rule
    assert makespans[-1] <= makespans[0]  # forward-backward improvement of the best rules
    assert makespans[0] >= j30_optima()[name]


def test_fbi_keeps_or_improves_every_rule():
    for name in J30[:8]:
        p = FAMILY.prepare(psplib(name))
        for run in rule_runs(p):
            better, _ = improve(p, run.schedule)
            assert better.makespan(p) <= run.schedule.makespan(p)
            assert check(p.inst, to_plan(p, better)).ok


def test_heuristics_take_milliseconds():
    inst = jobshop("ft10")  # 100 tasks on 10 machines
    p = FAMILY.prepare(inst)
    t0 = time.perf_counter()
    FAMILY.heuristics(p, Deadline(1.0))
    assert time.perf_counter() - t0 < 0.25
    p = FAMILY.prepare(psplib("j3013_4"))
    t0 = time.perf_counter()
    FAMILY.heuristics(p, Deadline(1.0))
    assert time.perf_counter() - t0 < 0.1


@pytest.mark.parametrize("seed", range(40))
def test_plans_keep_every_rule_but_deadlines(seed):
    """The SGS does not search for deadlines; everything else holds whenever a schedule exists."""
    inst = tiny_instance(seed)
    p = FAMILY.prepare(inst)
    if FAMILY.infeasibility(p):
        return
    feasible = best_objective(inst) is not None
    for run in FAMILY.heuristics(p, Deadline(1.0)):
        violations = check(inst, run.plan).violations
        if feasible:
            assert all("deadline" in v for v in violations), violations
        else:
            assert all("deadline" in v or "budget" in v for v in violations), violations


def test_calendar_downtime_pushes_a_task_past_it():
    inst = WorkflowInstance.model_validate(
        {
            "tasks": [
                {"id": "a", "modes": [{"duration": 3, "demands": {"gpu": 2}}]},
                {
                    "id": "b",
                    "modes": [{"duration": 2, "demands": {"gpu": 1}}],
                    "predecessors": [{"task": "a"}],
                },
            ],
            "resources": [
                {"name": "gpu", "capacity": 2, "calendar": [{"start": 2, "end": 6, "capacity": 0}]}
            ],
        }
    )
    p = FAMILY.prepare(inst)
    sched = sgs.forward(p, [0.0, 1.0])
    assert sched.start == [6, 9]
    assert p.fwd.es == [6, 9]  # the critical path knows the calendar too
    assert check(inst, to_plan(p, sched)).ok


def test_modes_are_chosen_within_the_budget():
    inst = WorkflowInstance.model_validate(
        {
            "tasks": [
                {
                    "id": f"t{k}",
                    "modes": [
                        {"duration": 1, "demands": {"gpu": 1, "usd": 3}},
                        {"duration": 4, "demands": {"gpu": 1, "usd": 1}},
                    ],
                }
                for k in range(4)
            ],
            "resources": [{"name": "gpu", "capacity": 4}],
            "nonrenewable": [{"name": "usd", "budget": 8}],
        }
    )
    p = FAMILY.prepare(inst)
    for run in FAMILY.heuristics(p, Deadline(1.0)):
        report = check(inst, run.plan)
        assert report.ok, report.violations
        assert run.plan.consumed == {"usd": 8}  # two fast modes, as many as the budget allows
        assert report.objective == {"makespan": 4.0}
