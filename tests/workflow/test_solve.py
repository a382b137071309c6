"""End-to-end guarantees of solve() on workflows: proven optima on PSPLIB and job-shop classics, every
engine's plan checked, budget, determinism, never worse than the baseline, infeasibility and explanations."""

from __future__ import annotations

import threading
import time

import pytest

import solver
from solver.engine import objective as lex
from solver.engine.budget import CancelToken
from solver.workflow.generate import PRESETS, agentic
from tests.workflow.conftest import JOBSHOP_OPTIMA, j30_optima, jobshop, psplib, request
from tests.workflow.test_check import INSTANCE as CHECK_INSTANCE

OVERHEAD_S = 0.05
OPTIMA = j30_optima()


def solved(req: dict, **expect: object):
    t0 = time.monotonic()
    r = solver.solve(req, started=t0)
    wall = time.monotonic() - t0
    limit = req["options"]["time_limit_s"]
    assert r.stats.total_s <= limit + OVERHEAD_S and wall <= limit + OVERHEAD_S
    if r.plan is not None:
        report = solver.check("workflow", req["instance"], r.plan)
        assert report.ok, report.violations
        assert report.objective == r.objective
        for b in r.baselines:
            if b.feasible:
                assert lex.no_worse(r.objective, b.objective, r.objective_sense)
    for key, value in expect.items():
        assert getattr(r, key) == value, (key, getattr(r, key))
    return r


@pytest.mark.parametrize("name", sorted(OPTIMA))
def test_j30_optimum_reached_and_proven(name):
    r = solved(request(psplib(name), time_limit_s=2.0, workers=2), status="optimal")
    assert r.objective == {"makespan": OPTIMA[name]}
    assert r.bound == {"makespan": OPTIMA[name]} and r.gap == 0.0
    assert [t.id for t in r.plan.tasks] == [str(j) for j in range(1, 33)]


@pytest.mark.parametrize("name", ["ft06", "la01"])
def test_job_shop_optimum_reached_and_proven(name):
    optimum = JOBSHOP_OPTIMA[name]
    r = solved(request(jobshop(name), time_limit_s=5.0), status="optimal", engine="cpsat")
    assert r.objective == {"makespan": optimum}
    assert r.baseline.name == "sgs-best-of-rules" and r.baseline.objective["makespan"] > optimum


def test_ilp_proves_small_horizons_and_matches_cpsat():
    for inst in (psplib("j301_1"), jobshop("ft06")):
        ilp = solved(request(inst, time_limit_s=10.0, engine="ilp"), status="optimal", engine="ilp")
        cp = solved(request(inst, time_limit_s=5.0), status="optimal")
        assert ilp.objective == cp.objective
        assert "time-indexed" in ilp.method


def test_ilp_declines_a_long_horizon_with_the_numbers():
    r = solved(
        request(jobshop("ft10"), time_limit_s=1.0, engine="ilp"), status="fallback", engine="heuristic"
    )
    [warning] = [w for w in r.warnings if "ilp declined" in w]
    assert "horizon of" in warning and "start binaries" in warning and "limits of 500 periods" in warning


@pytest.mark.parametrize("engine", ["heuristic", "cpsat", "ilp"])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_engine_gives_checked_plans(engine, preset):
    inst = PRESETS[preset]()
    r = solved(request(inst, time_limit_s=1.5, engine=engine))
    assert r.status in ("optimal", "feasible", "fallback") and r.plan is not None


def test_heuristic_that_meets_the_bound_is_proven_without_search():
    r = solved(request(psplib("j3016_9"), time_limit_s=2.0), status="optimal", engine="heuristic")
    assert r.stats.solve_s == 0.0 and r.objective == {"makespan": 44}


def test_exact_engine_beats_the_baseline_on_a_tight_instance():
    r = solved(request(psplib("j305_2"), time_limit_s=2.0), status="optimal", engine="cpsat")
    assert r.objective["makespan"] < r.baseline.objective["makespan"]


def test_budget_holds_when_the_search_cannot_finish():
    solved(request(jobshop("ft10"), time_limit_s=0.5))
    solved(request(agentic(requests=40), time_limit_s=1.0))
    solved(request(agentic(requests=40), time_limit_s=0.3, engine="ilp"))


def test_one_worker_and_a_seed_reproduce_the_plan():
    req = request(jobshop("ft10"), time_limit_s=1.0, workers=1, seed=7)
    a, b = solver.solve(req), solver.solve(req)
    assert a.plan == b.plan and a.objective == b.objective


def test_progress_series_improves():
    r = solved(request(jobshop("ft10"), time_limit_s=1.0, return_progress=True))
    series = [p.objective for p in r.progress]
    assert len(series) > 2 and series[0]["makespan"] > series[-1]["makespan"]
    assert all(lex.no_worse(b, a, r.objective_sense) for a, b in zip(series, series[1:], strict=False))


def test_cancel_keeps_the_best_plan():
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    t0 = time.monotonic()
    r = solver.solve(request(jobshop("ft10"), time_limit_s=30.0), cancel=token)
    assert time.monotonic() - t0 < 1.0
    assert any("cancelled" in w for w in r.warnings)
    assert solver.check("workflow", jobshop("ft10"), r.plan).ok


def test_weighted_tardiness_optimum_and_explanations():
    r = solved(request(CHECK_INSTANCE, time_limit_s=3.0), status="optimal")
    # b in its slow mode (the fast one breaks the budget): d cannot end before 8; e goes first, before c
    assert r.objective == {"weighted_tardiness": 4.0, "makespan": 8.0}
    [why] = r.explanations
    assert why.item == "d" and why.constraint == "precedence"
    assert why.message.startswith(
        "task d ends at 8, 2 after its due date 6 (weight 2): it waits for b (ends at 7)"
    )


def test_resource_wait_is_explained_with_numbers():
    inst = {
        "tasks": [
            {"id": "train", "modes": [{"duration": 3, "demands": {"gpu": 6}}], "due": 3, "weight": 1},
            {"id": "serve", "modes": [{"duration": 2, "demands": {"gpu": 4}}], "due": 2, "weight": 5},
        ],
        "resources": [{"name": "gpu", "capacity": 8}],
        "objective": "weighted_tardiness",
    }
    r = solved(request(inst, time_limit_s=2.0), status="optimal")
    assert r.objective == {"weighted_tardiness": 2.0, "makespan": 5.0}  # serve first, train 2 late
    [why] = r.explanations
    assert why.item == "train" and why.constraint == "capacity"
    assert why.message == (
        "task train ends at 5, 2 after its due date 3 (weight 1): it waits for resource gpu: capacity 8, "
        "tasks serve use 4 in [0, 2); it needs 6"
    )
    assert why.data["held_by"] == ["serve"]


INFEASIBLE = {
    "deadline below the critical path": (
        {
            "tasks": [
                {"id": "a", "modes": [{"duration": 4}], "release": 2},
                {"id": "b", "modes": [{"duration": 3}], "predecessors": [{"task": "a", "min_lag": 1}]},
                {"id": "c", "modes": [{"duration": 2}], "predecessors": [{"task": "b"}], "deadline": 10},
            ]
        },
        "deadline",
        "task c cannot end by its deadline 10: the earliest it can end is 12, through c [10, 12) after b <- "
        "b [7, 10) after a + lag 1 <- a [2, 6) (released at 2)",
    ),
    "demand above the capacity": (
        {
            "tasks": [
                {
                    "id": "big",
                    "modes": [
                        {"duration": 1, "demands": {"gpu": 9}},
                        {"duration": 2, "demands": {"gpu": 12}},
                    ],
                }
            ],
            "resources": [{"name": "gpu", "capacity": 8}],
        },
        "capacity",
        "task big fits in none of its modes (each of its 2 modes): mode 0 needs 9 of gpu (capacity 8); "
        "mode 1 needs 12 of gpu (capacity 8)",
    ),
    "window too short": (
        {"tasks": [{"id": "a", "modes": [{"duration": 3}], "release": 5, "deadline": 7}]},
        "deadline",
        "task a cannot end by its deadline 7: the earliest it can end is 8",
    ),
    "calendar downtime": (
        {
            "tasks": [{"id": "a", "modes": [{"duration": 3, "demands": {"gpu": 1}}], "deadline": 8}],
            "resources": [
                {"name": "gpu", "capacity": 2, "calendar": [{"start": 2, "end": 10, "capacity": 0}]}
            ],
        },
        "deadline",
        "the calendar of gpu leaves no room for 3 before 10",
    ),
    "budget": (
        {
            "tasks": [
                {
                    "id": "a",
                    "modes": [{"duration": 1, "demands": {"usd": 5}}, {"duration": 3, "demands": {"usd": 4}}],
                },
                {"id": "b", "modes": [{"duration": 1, "demands": {"usd": 3}}]},
            ],
            "nonrenewable": [{"name": "usd", "budget": 6}],
        },
        "budget",
        "the tasks consume at least 7 of usd in their cheapest modes; its budget is 6",
    ),
    "too much work before the deadlines": (
        {
            "tasks": [
                {"id": f"t{k}", "modes": [{"duration": 3, "demands": {"gpu": 2}}], "deadline": 6}
                for k in range(3)
            ],
            "resources": [{"name": "gpu", "capacity": 2}],
        },
        "capacity",
        "tasks t0, t1, t2 must run within [0, 6) (their releases, predecessors and deadlines) and need 18 "
        "units of gpu x time there; gpu offers 12 (capacity 2)",
    ),
}


@pytest.mark.parametrize("case", INFEASIBLE)
@pytest.mark.parametrize("engine", ["cpsat", "heuristic"])
def test_proven_infeasible_with_the_conflict_named(case, engine):
    inst, constraint, words = INFEASIBLE[case]
    r = solved(request(inst, time_limit_s=1.0, engine=engine), status="infeasible", plan=None)
    assert r.explanations[0].constraint == constraint
    assert words in r.explanations[0].message, r.explanations[0].message


def test_infeasibility_only_search_can_prove_is_explained():
    # capacity 3 and three 2-unit tasks: never two at once, 6 time units of work, all due by 4;
    # the energy (12 of 12) does not see it, CP-SAT does
    inst = {
        "tasks": [
            {"id": f"t{k}", "modes": [{"duration": 2, "demands": {"gpu": 2}}], "deadline": 4}
            for k in range(3)
        ],
        "resources": [{"name": "gpu", "capacity": 3}],
    }
    r = solved(request(inst, time_limit_s=2.0), status="infeasible", plan=None)
    assert "CP-SAT proved that no schedule meets the deadlines of tasks t0 (by 4), t1 (by 4), t2 (by 4)" in (
        r.explanations[0].message
    )
    ilp = solved(request(inst, time_limit_s=2.0, engine="ilp"), status="infeasible")
    assert "ILP" in ilp.explanations[0].message
