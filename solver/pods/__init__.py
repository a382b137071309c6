"""Kubernetes pod packing with priorities (kind `pods`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from models.common import Explanation
from models.pods import PodsInstance, PodsPlan, PodsResult
from solver.engine.budget import Deadline
from solver.engine.errors import EngineDeclined, FieldError, InvalidInstance
from solver.engine.family import CheckReport, ExactContext, ExactOutcome, HeuristicRun
from solver.engine.objective import Bound, Senses
from solver.pods import check as checker
from solver.pods import cpsat, ilp
from solver.pods.bound import cheap_bound
from solver.pods.cluster import Arrays, build_arrays
from solver.pods.exact import stuck_pods
from solver.pods.explain import explain
from solver.pods.heuristic import best_fit_decreasing, kube_default
from solver.pods.plans import senses, to_plan
from solver.pods.validate import validate


class PodsFamily:
    kind = "pods"
    instance_model = PodsInstance
    plan_model = PodsPlan
    result_model = PodsResult

    def prepare(self, instance: PodsInstance) -> Arrays:
        validate(instance)
        try:
            return build_arrays(instance)
        except ValueError as exc:  # running GPU pods without device indices that cannot be packed
            raise InvalidInstance([FieldError(("pods",), str(exc))]) from exc

    def senses(self, problem: Arrays) -> Senses:
        return senses(problem.inst)

    def heuristics(self, problem: Arrays, deadline: Deadline) -> Sequence[HeuristicRun]:
        """kube-default then best-fit decreasing; under a budget too small for the cluster a pass stops
        at the deadline with the pods placed so far (still a valid plan) and says so in its name."""
        runs: list[HeuristicRun] = []
        for name, algorithm in (("kube-default", kube_default), ("best-fit-decreasing", best_fit_decreasing)):
            if runs and deadline.remaining() < 2 * runs[-1].seconds:  # keep time to check and answer
                break
            t0 = time.perf_counter()
            st = algorithm(problem, deadline=deadline)
            if st.stopped_early:
                name += " (stopped at the time limit)"
            runs.append(
                HeuristicRun(name, to_plan(problem, st.node_of, st.gpus_of), time.perf_counter() - t0)
            )
        return runs

    def min_time_limit_s(self, instance: PodsInstance) -> float:
        """The least budget an answer keeps: reading the request, the baselines, one check and the
        explanations took 31 us per pod and node (1,523 nodes, 5,474 pods: 0.22 s) and up to 43 us on a
        loaded machine; 45 us, plus 20 ms."""
        return round(0.02 + 45e-6 * (len(instance.nodes) + len(instance.pods)), 2)

    def check(self, instance: PodsInstance, plan: PodsPlan) -> CheckReport:
        return checker.check(instance, plan)

    def infeasibility(self, problem: Arrays) -> list[Explanation]:
        return stuck_pods(problem)

    def bound(self, problem: Arrays) -> Bound | None:
        return cheap_bound(problem)

    def reserve_s(self, problem: Arrays) -> float:
        """Decoding, checking and explaining a plan took 13 us per pod and node here (8,115 pods on
        1,523 nodes: 0.13 s); keep 18 us, plus 10 ms."""
        return 0.010 + 18e-6 * (problem.n_pods + problem.n_nodes)

    def solve_exact(self, engine: str, problem: Arrays, ctx: ExactContext) -> ExactOutcome:
        if engine == "cpsat":
            return cpsat.solve(problem, ctx)
        if engine == "ilp":
            return ilp.solve(problem, ctx)
        raise EngineDeclined(f"unknown engine {engine!r}")

    def explain(self, problem: Arrays, plan: Any) -> list[Explanation]:
        return explain(problem, plan)


FAMILY = PodsFamily()
