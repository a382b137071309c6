"""Batch composition for continuous-batching LLM serving (kind `batching`).

One scheduling step: which waiting requests join the running batch, their prefill chunks, optional
preemptions, under this step's seats, token budget and KV blocks and a guard on the batch's future peak
memory over sampled output-length scenarios. Baselines (heuristic.py): vLLM V1 FCFS, LightLLM
conservative, Past-Future, and our guarded greedy; exact engines: the multi-checkpoint knapsack in
CP-SAT (cpsat.py) and PuLP/HiGHS (ilp.py) from one formulation (formulation.py); an independent checker
(check.py); a trace-driven simulator that measures goodput (simulate.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from models.batching import BatchingInstance, BatchingPlan, BatchingResult
from models.common import Explanation
from solver.batching import check as checker
from solver.batching import cpsat, ilp
from solver.batching.bound import cheap_bound
from solver.batching.explain import explain
from solver.batching.heuristic import HEURISTICS, fit_running
from solver.batching.plans import senses, to_plan
from solver.batching.problem import Problem, build, columns
from solver.batching.validate import validate
from solver.engine.budget import Deadline
from solver.engine.errors import EngineDeclined
from solver.engine.family import CheckReport, ExactContext, ExactOutcome, HeuristicRun
from solver.engine.objective import Bound, Senses

BASELINE = "vllm-v1-fcfs"


class BatchingFamily:
    kind = "batching"
    instance_model = BatchingInstance
    plan_model = BatchingPlan
    result_model = BatchingResult

    def prepare(self, instance: BatchingInstance) -> Problem:
        checker.forget(instance)  # a solve reads the instance as it is now, even if edited in place
        cols = columns(instance)
        validate(instance, cols)
        return build(instance, cols)

    def senses(self, problem: Problem) -> Senses:
        return senses()

    def heuristics(self, problem: Problem, deadline: Deadline) -> Sequence[HeuristicRun]:
        """vLLM V1 first (the default users run), then LightLLM conservative, Past-Future and the guarded
        greedy (the hint)."""
        runs = []
        plans: dict[tuple, BatchingPlan] = {}  # under heavy load several baselines take the same batch
        for name, algorithm in HEURISTICS.items():
            t0 = time.perf_counter()
            decision = algorithm(problem, deadline)
            key = (
                tuple(decision.admit),
                tuple(decision.chunks),
                decision.kept.tobytes(),
                decision.run_chunk.tobytes(),
            )
            plan = plans.get(key)
            if plan is None:
                plan = plans[key] = to_plan(problem, decision)
            else:  # its own copy: a caller may edit one run's plan
                plan = BatchingPlan.model_construct(
                    admit=list(plan.admit),
                    chunks=dict(plan.chunks),
                    preempt=list(plan.preempt),
                    kv_blocks_now=plan.kv_blocks_now,
                    peak_tokens=list(plan.peak_tokens),
                    breakdown=dict(plan.breakdown),
                )
            runs.append(HeuristicRun(name, plan, time.perf_counter() - t0))
        return runs

    def check(self, instance: BatchingInstance, plan: BatchingPlan) -> CheckReport:
        return checker.check(instance, plan)

    def infeasibility(self, problem: Problem) -> list[Explanation]:
        """Without preemption, the running requests alone must fit this step."""
        if problem.inst.policy.allow_preempt or not problem.nr:
            return []
        kept, _ = fit_running(problem, allow_preempt=True)
        if kept.all():
            return []
        p = problem
        decodes = int(p.r_decoding.sum())
        blocks = int(p.run_blocks(p.r_chunk).sum())
        return [
            Explanation(
                item="running",
                constraint="preemption",
                message=f"the {p.nr} running requests do not fit this step (seats {p.nr}/{p.seats}, decode "
                f"tokens {decodes}/{p.budget}, KV blocks {blocks} + shared prefixes / {p.cap_blocks}) and "
                "the policy forbids preemption",
                data={"running": p.nr, "seats": p.seats, "blocks": blocks, "cap_blocks": p.cap_blocks},
            )
        ]

    def bound(self, problem: Problem) -> Bound | None:
        return cheap_bound(problem)

    def reserve_s(self, problem: Problem) -> float:
        """Decoding, checking and explaining a plan: about 1 ms per 1,000 requests here; keep 2 us per
        request, plus 2 ms."""
        return 0.002 + 2e-6 * (problem.nr + problem.nw)

    def solve_exact(self, engine: str, problem: Problem, ctx: ExactContext) -> ExactOutcome:
        if engine == "cpsat":
            return cpsat.solve(problem, ctx)
        if engine == "ilp":
            return ilp.solve(problem, ctx)
        raise EngineDeclined(f"unknown engine {engine!r}")

    def explain(self, problem: Problem, plan: BatchingPlan) -> list[Explanation]:
        return explain(problem, plan)


FAMILY = BatchingFamily()
