"""LLM parallelism plans (kind `parallelism`): TP/PP/EP, batch caps and a heterogeneous replica mix under
memory, SLOs and cost.

The cost model (costmodel.py) turns a model, a workload and a GPU pool into candidate replica
configurations with their capacity at the SLOs (problem.py); the replica-mix model (formulation.py, run
on CP-SAT by cpsat.py and on PuLP by ilp.py) chooses an integer count per configuration under the pools'
node packing, covering the demand (or the Mélange per-bucket assignment with a histogram); baselines:
the vLLM rule and the best single configuration (heuristic.py); an independent checker (check.py); an
exhaustive reference for small inventories (bruteforce.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from models.common import Explanation
from models.parallelism import ParallelismInstance, ParallelismPlan, ParallelismResult
from solver.engine.budget import Deadline
from solver.engine.errors import EngineDeclined
from solver.engine.family import CheckReport, ExactContext, ExactOutcome, HeuristicRun
from solver.engine.objective import Bound, Senses
from solver.parallelism import check as checker
from solver.parallelism import cpsat, ilp
from solver.parallelism.bound import cheap_bound
from solver.parallelism.explain import conflicts, explain
from solver.parallelism.heuristic import SINGLE, VLLM, best_single, vllm_rule
from solver.parallelism.plans import senses, to_plan
from solver.parallelism.problem import Problem, build
from solver.parallelism.validate import validate


class ParallelismFamily:
    kind = "parallelism"
    instance_model = ParallelismInstance
    plan_model = ParallelismPlan
    result_model = ParallelismResult

    def prepare(self, instance: ParallelismInstance) -> Problem:
        validate(instance)
        return build(instance)

    def senses(self, problem: Problem) -> Senses:
        return senses(problem)

    def heuristics(self, problem: Problem, deadline: Deadline) -> Sequence[HeuristicRun]:
        t0 = time.perf_counter()
        out = [HeuristicRun(VLLM, to_plan(problem, vllm_rule(problem, deadline)), time.perf_counter() - t0)]
        t0 = time.perf_counter()
        single = best_single(problem, deadline)
        if single is not None:
            out.append(HeuristicRun(SINGLE, to_plan(problem, single), time.perf_counter() - t0))
        return out

    def check(self, instance: ParallelismInstance, plan: ParallelismPlan) -> CheckReport:
        return checker.check(instance, plan)

    def infeasibility(self, problem: Problem) -> list[Explanation]:
        return conflicts(problem)

    def bound(self, problem: Problem) -> Bound | None:
        return cheap_bound(problem)

    def reserve_s(self, problem: Problem) -> float:
        """After the engine: the plan's latencies are predicted and the checker recomputes each group's
        capacity, about 1 ms per (group, bucket) here (4 pools x 4 buckets: 12 ms); keep 2 ms for each of
        up to two groups per pool, plus 15 ms."""
        pools = len({c.pool for c in problem.configs}) or 1
        groups = min(2 * pools, max(1, len(problem.variants)))
        return 0.015 + 0.002 * len(problem.shares) * groups

    def solve_exact(self, engine: str, problem: Problem, ctx: ExactContext) -> ExactOutcome:
        if engine == "cpsat":
            return cpsat.solve(problem, ctx)
        if engine == "ilp":
            return ilp.solve(problem, ctx)
        raise EngineDeclined(f"unknown engine {engine!r}")

    def explain(self, problem: Problem, plan: ParallelismPlan) -> list[Explanation]:
        return explain(problem, plan)


FAMILY = ParallelismFamily()
