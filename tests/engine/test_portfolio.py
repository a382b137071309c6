"""The portfolio's promises, checked with a family whose engines misbehave on purpose."""

from dataclasses import dataclass, field
from typing import Any

from models.common import EngineName, SolveOptions, SolveResult, Status
from solver.engine import portfolio
from solver.engine.family import CheckReport, ExactOutcome, HeuristicRun

SENSES = {"score": "max"}


class FakeResult(SolveResult):
    pass


@dataclass
class Fake:
    """Plans are ints (their score); negative plans are infeasible."""

    heuristic_plans: list[int]
    exact: ExactOutcome | None = None
    cheap_bound: float | None = None
    exact_calls: list[Any] = field(default_factory=list)
    kind = "fake"
    result_model = FakeResult

    def prepare(self, instance):
        return instance

    def senses(self, problem):
        return SENSES

    def heuristics(self, problem, deadline):
        return [HeuristicRun(f"h{i}", p) for i, p in enumerate(self.heuristic_plans)]

    def check(self, instance, plan):
        return CheckReport(["negative"] if plan < 0 else [], {"score": float(abs(plan))})

    def infeasibility(self, problem):
        return []

    def reserve_s(self, problem):
        return 0.0

    def bound(self, problem):
        return None if self.cheap_bound is None else {"score": self.cheap_bound}

    def solve_exact(self, engine, problem, ctx):
        self.exact_calls.append(ctx.hint)
        return self.exact

    def explain(self, problem, plan):
        return []


def run(fam, engine=EngineName.cpsat):
    return portfolio.run(fam, None, SolveOptions(time_limit_s=1, engine=engine))


def test_exact_plan_better_than_heuristics_is_returned_with_its_proof():
    fam = Fake([3, 5], ExactOutcome(7, "OPTIMAL", proven_optimal=True, bound={"score": 7}))
    r = run(fam)
    assert (r.status, r.engine, r.plan, r.gap) == (Status.optimal, "cpsat", 7, 0.0)
    assert fam.exact_calls == [5]  # the best heuristic is the hint
    assert r.baseline.name == "h0" and r.baseline.objective == {"score": 3}


def test_plan_failing_the_checker_is_never_returned():
    fam = Fake([3], ExactOutcome(-9, "FEASIBLE"))
    r = run(fam)
    assert r.plan == 3 and r.status == Status.fallback
    assert any("defect" in w for w in r.warnings)


def test_exact_worse_than_its_hint_falls_back_to_the_heuristic():
    fam = Fake([5], ExactOutcome(4, "FEASIBLE", bound={"score": 9}))
    r = run(fam)
    assert (r.plan, r.status, r.engine) == (5, Status.fallback, "heuristic")
    assert r.bound == {"score": 9} and r.gap == (9 - 5) / 9


def test_heuristic_meeting_the_cheap_bound_is_optimal_without_search():
    fam = Fake([2, 6], ExactOutcome(6, "OPTIMAL"), cheap_bound=6)
    r = run(fam)
    assert r.status == Status.optimal and r.plan == 6 and r.engine == "heuristic"
    assert fam.exact_calls == []


def test_heuristic_engine_skips_search():
    fam = Fake([4], ExactOutcome(9, "OPTIMAL"))
    r = run(fam, EngineName.heuristic)
    assert (r.status, r.plan, fam.exact_calls) == (Status.feasible, 4, [])


def test_bound_beaten_by_a_checked_plan_is_discarded():
    fam = Fake([8], ExactOutcome(8, "FEASIBLE", bound={"score": 5}))
    r = run(fam)
    assert r.bound is None and any("invalid bound" in w for w in r.warnings)


def test_proven_infeasibility_without_any_plan():
    fam = Fake([-1], ExactOutcome(None, "INFEASIBLE", infeasible=True))
    r = run(fam)
    assert r.status == Status.infeasible and r.plan is None
