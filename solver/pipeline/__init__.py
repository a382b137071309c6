"""Pipeline stage placement (kind `pipeline`): contiguous layer ranges per stage and the device of each.

Baselines: PipeDream's and PipeEdge's dynamic programs and a greedy balanced split (heuristic.py). Exact
(exact.py): the least bottleneck by a parametric search over a reach DP on device classes (bottleneck.py),
the least latency under a bottleneck cap by a DP on the same lattice (latency_dp.py), which also drives the
epsilon-constraint sweep of the Pareto front; where the lattice is too large, an arc formulation of stages
on a path over the layer positions in CP-SAT (cpsat.py) or PuLP (ilp.py) proves each step. An independent
checker (check.py); PipeDream and PipeEdge profile readers (formats.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from models.common import Explanation
from models.pipeline import (
    BOTTLENECK,
    LATENCY,
    ParetoFront,
    PipelineInstance,
    PipelinePlanModel,
    PipelineResult,
    StagePlan,
)
from solver.engine.budget import Deadline
from solver.engine.errors import EngineDeclined
from solver.engine.family import CheckReport, ExactContext, ExactOutcome, HeuristicRun
from solver.engine.objective import Bound, Senses
from solver.pipeline import check as checker
from solver.pipeline import exact, explain, heuristic
from solver.pipeline.bound import cheap_bound
from solver.pipeline.plans import Evaluated, close, non_dominated, to_front, to_stage_plan
from solver.pipeline.problem import Problem, build
from solver.pipeline.validate import validate


class PipelineFamily:
    kind = "pipeline"
    instance_model = PipelineInstance
    plan_model = PipelinePlanModel
    result_model = PipelineResult

    def prepare(self, instance: PipelineInstance) -> Problem:
        validate(instance)
        return build(instance)

    def senses(self, problem: Problem) -> Senses:
        return problem.senses()

    def heuristics(self, problem: Problem, deadline: Deadline) -> Sequence[HeuristicRun]:
        """The baseline users would run first: PipeEdge's DP on heterogeneous devices (PipeDream's when
        the devices are of one type, or when PipeEdge's state space is too large), then the others."""
        runs = heuristic.run_all(problem, deadline)
        pareto = problem.objective == "pareto"
        out = []
        for run in runs:
            if pareto:
                front = heuristic.front_of(run)
                if front:
                    out.append(HeuristicRun(run.name, self._front(problem, front), run.seconds))
                continue
            chosen = heuristic.best_of(problem, run, problem.objective)
            if chosen is not None:
                out.append(HeuristicRun(run.name, to_stage_plan(problem, chosen.placement), run.seconds))
        first = "pipedream-dp" if problem.T == 1 else "pipeedge-dp"
        out.sort(key=lambda r: r.name != first)
        if pareto and len(out) > 1:  # the baselines' plans together: the exact sweep's starting front
            union = [e for run in runs for e in heuristic.front_of(run)]
            seconds = sum(r.seconds for r in runs)
            out.append(HeuristicRun("baselines-union", self._front(problem, union), seconds))
        return out

    @staticmethod
    def _front(problem: Problem, points: list[Evaluated]) -> ParetoFront:
        """A baseline's front; complete only when it is one plan at both cheap bounds at once (then it
        dominates every plan, which is how the portfolio proves it without a search)."""
        bound = cheap_bound(problem)
        front = non_dominated(points)
        alone = len(front) == 1 and all(
            close(v, float(bound[name] or 0.0))
            for name, v in ((BOTTLENECK, front[0].bottleneck), (LATENCY, front[0].latency))
        )
        return to_front(problem, front, alone, None)

    def check(self, instance: PipelineInstance, plan: StagePlan | ParetoFront) -> CheckReport:
        return checker.check(instance, plan)

    def infeasibility(self, problem: Problem) -> list[Explanation]:
        return explain.conflicts(problem)

    def bound(self, problem: Problem) -> Bound | None:
        return cheap_bound(problem)

    def reserve_s(self, problem: Problem) -> float:
        """Decoding, evaluating, checking and explaining: about 2 us per layer and stage here, a front
        up to a hundred plans; keep 10 ms plus that."""
        per_plan = 4e-6 * problem.L + 1e-4 * problem.kmax
        return 0.010 + per_plan * (50 if problem.objective == "pareto" else 2)

    def solve_exact(self, engine: str, problem: Problem, ctx: ExactContext) -> ExactOutcome:
        if engine not in ("cpsat", "ilp"):
            raise EngineDeclined(f"unknown engine {engine!r}")
        return exact.solve(problem, ctx, engine)

    def explain(self, problem: Problem, plan: StagePlan | ParetoFront) -> list[Explanation]:
        return explain.explain(problem, plan)


FAMILY = PipelineFamily()
