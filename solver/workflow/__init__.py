"""Task DAGs on limited resources: the resource-constrained project scheduling family (kind `workflow`).

Tasks with modes, lags, releases, deadlines and due dates on renewable resources with calendars,
non-renewable budgets and disjunctive sets; makespan, weighted tardiness or weighted completion. Engines:
serial SGS baselines (heuristic.py), CP-SAT intervals and cumulatives (cpsat.py), a time-indexed ILP for
short horizons (ilp.py); an independent checker (check.py); PSPLIB and job-shop readers (formats.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from models.common import Explanation
from models.workflow import WorkflowInstance, WorkflowPlan, WorkflowResult
from solver.engine.budget import Deadline
from solver.engine.errors import EngineDeclined
from solver.engine.family import CheckReport, ExactContext, ExactOutcome, HeuristicRun
from solver.engine.objective import Bound, Senses
from solver.workflow import check as checker
from solver.workflow import cpsat, ilp
from solver.workflow.bound import cheap_bound
from solver.workflow.explain import explain
from solver.workflow.heuristic import best_of, run_all
from solver.workflow.infeasible import conflicts
from solver.workflow.plans import senses, to_plan
from solver.workflow.problem import Problem, build
from solver.workflow.validate import validate

BASELINE = "sgs-best-of-rules"


class WorkflowFamily:
    kind = "workflow"
    instance_model = WorkflowInstance
    plan_model = WorkflowPlan
    result_model = WorkflowResult

    def prepare(self, instance: WorkflowInstance) -> Problem:
        validate(instance)
        return build(instance)

    def senses(self, problem: Problem) -> Senses:
        return senses(problem)

    def heuristics(self, problem: Problem, deadline: Deadline) -> Sequence[HeuristicRun]:
        """The best of the priority rules first (the literature's baseline), each rule, and the
        forward-backward improvement of the best ones."""
        runs, improved = run_all(problem, deadline)
        best = best_of(problem, runs)
        out = [HeuristicRun(BASELINE, to_plan(problem, best.schedule), sum(r.seconds for r in runs))]
        out += [HeuristicRun(f"sgs-{r.name}", to_plan(problem, r.schedule), r.seconds) for r in runs]
        if improved is not None:
            out.append(
                HeuristicRun(f"sgs-{improved.name}", to_plan(problem, improved.schedule), improved.seconds)
            )
        return out

    def check(self, instance: WorkflowInstance, plan: WorkflowPlan) -> CheckReport:
        return checker.check(instance, plan)

    def infeasibility(self, problem: Problem) -> list[Explanation]:
        return conflicts(problem)

    def bound(self, problem: Problem) -> Bound | None:
        return cheap_bound(problem)

    def reserve_s(self, problem: Problem) -> float:
        """Decoding, left-justifying, checking and explaining a plan: about 60 us per task here
        (j30: 2 ms); keep 100 us, plus 10 ms."""
        return 0.010 + 100e-6 * problem.n

    def solve_exact(self, engine: str, problem: Problem, ctx: ExactContext) -> ExactOutcome:
        if engine == "cpsat":
            return cpsat.solve(problem, ctx)
        if engine == "ilp":
            return ilp.solve(problem, ctx)
        raise EngineDeclined(f"unknown engine {engine!r}")

    def explain(self, problem: Problem, plan: WorkflowPlan) -> list[Explanation]:
        return explain(problem, plan)


FAMILY = WorkflowFamily()
