"""heuristics -> check -> hint -> exact engine -> check -> best checked plan, or the fallback.

Every plan that leaves here has passed the family's independent checker; a plan that fails is
logged as a defect and never returned. The answer is never worse than the best heuristic, and its
status says whether it is proven (`optimal`), the exact engine's (`feasible`), or a heuristic's
because the exact engine had nothing better in time (`fallback`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from models.common import Baseline, EngineName, ProgressPoint, SolveOptions, SolveResult, Stats, Status
from solver.engine import objective as lex
from solver.engine.budget import CancelToken, Deadline
from solver.engine.cpsat import default_workers
from solver.engine.errors import DeadlineExceeded, EngineDeclined
from solver.engine.family import ExactContext, ExactOutcome, Family
from solver.engine.objective import Bound, Objective

log = logging.getLogger("schedopt.portfolio")

MIN_RESERVE_S = 0.010  # kept back from the exact engine for decoding, checking and explaining
MIN_ENGINE_S = 0.005  # below this the exact engine is not started at all
NOMINAL_SHARE = 0.8  # of the time limit, what the exact engine nominally gets (the rest: heuristics, checks)
ProgressSink = Callable[[ProgressPoint], None]
PlanSink = Callable[[SolveResult], None]


@dataclass
class _Candidate:
    plan: Any
    objective: dict[str, float]
    engine: str
    method: str


_gc_lock = threading.Lock()
_gc_holders = 0


@contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the garbage collector off the instance while solves run: a full collection walking
    10^4 pods' objects takes tens of milliseconds at a random moment, which a deadline cannot
    afford. Objects alive at the start (the parsed request above all) are frozen out of collection;
    young objects are still collected as usual. They thaw when the last concurrent solve ends."""
    global _gc_holders
    with _gc_lock:
        _gc_holders += 1
        if _gc_holders == 1:
            gc.freeze()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0:
                gc.unfreeze()


def run(
    family: Family,
    instance: Any,
    options: SolveOptions,
    started: float | None = None,
    on_progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
    on_plan: PlanSink | None = None,
) -> SolveResult:
    deadline = Deadline(
        options.time_limit_s,
        started if started is not None else time.monotonic(),
        token=cancel or CancelToken(),
    )
    with gc_paused():
        return _run(family, instance, options, deadline, on_progress, on_plan)


def _run(
    family: Family,
    instance: Any,
    options: SolveOptions,
    deadline: Deadline,
    on_progress: ProgressSink | None,
    on_plan: PlanSink | None,
) -> SolveResult:
    problem = family.prepare(instance)
    senses = family.senses(problem)
    stats = Stats(workers=default_workers(options))
    warnings: list[str] = []
    progress: list[ProgressPoint] = []
    conflicts = family.infeasibility(problem)
    if conflicts:  # proven before any search, whatever the engine asked for
        return _finish(
            family,
            problem,
            deadline,
            stats,
            senses,
            Status.infeasible,
            None,
            None,
            [],
            warnings,
            progress,
            options,
            explanations=conflicts,
        )

    def record(objective: Objective, bound: Bound | None, source: str) -> None:
        point = ProgressPoint(
            t=round(deadline.elapsed(), 6),
            objective=dict(objective),
            bound=dict(bound) if bound else None,
            source=source,
        )
        progress.append(point)
        if on_progress is not None:
            on_progress(point)

    # 1. the baselines, each checked; the best becomes the incumbent and the exact engine's hint
    t0 = time.perf_counter()
    runs = family.heuristics(problem, deadline)
    stats.heuristic_s = time.perf_counter() - t0
    baselines: list[Baseline] = []
    incumbent: _Candidate | None = None
    check_one_s = 0.0
    for run_ in runs:
        t1 = time.perf_counter()
        report = family.check(instance, run_.plan)
        check_one_s = max(check_one_s, time.perf_counter() - t1)
        baselines.append(Baseline(name=run_.name, objective=report.objective, feasible=report.ok))
        if not report.ok:  # a baseline may ignore a rule the instance sets (e.g. the eviction policy)
            warnings.append(
                f"baseline {run_.name}'s plan breaks hard constraints and is not used: "
                f"{_summary(report.violations)}"
            )
            continue
        if incumbent is None or lex.better(report.objective, incumbent.objective, senses):
            incumbent = _Candidate(run_.plan, report.objective, "heuristic", run_.name)
            record(report.objective, None, f"heuristic:{run_.name}")
    stats.check_s += check_one_s * len(runs)
    bound = family.bound(problem)
    if on_plan is not None and incumbent is not None:  # an answer to give if this process dies
        provisional = Status.optimal if _meets(incumbent.objective, bound, senses, []) else Status.fallback
        on_plan(
            _finish(
                family,
                problem,
                deadline,
                stats.model_copy(),
                senses,
                provisional,
                incumbent,
                bound,
                baselines,
                [*warnings, "provisional: the exact engine's search did not finish"],
                list(progress),
                options,
            )
        )

    # 2. the exact engine, unless a heuristic already meets the bound or none was asked for
    engine = EngineName.cpsat if options.engine == EngineName.auto else options.engine
    outcome: ExactOutcome | None = None
    proven_by_bound = incumbent is not None and _meets(incumbent.objective, bound, senses, warnings)
    reserve_s = max(MIN_RESERVE_S + 3 * check_one_s, family.reserve_s(problem))
    no_time = deadline.remaining() < reserve_s + MIN_ENGINE_S
    if no_time and engine != EngineName.heuristic and not proven_by_bound:
        warnings.append(f"{engine.value}: no time left for the exact engine after the baselines")
    if engine != EngineName.heuristic and not proven_by_bound and not no_time:
        ctx = ExactContext(
            deadline=deadline,
            options=options,
            hint=incumbent.plan if incumbent else None,
            hint_objective=incumbent.objective if incumbent else None,
            on_incumbent=lambda obj, b, src: (
                record(obj, b, src) if options.return_progress or on_progress else None
            ),
            workers=stats.workers,
            reserve_s=reserve_s,
            bound=bound,
            nominal_s=NOMINAL_SHARE * options.time_limit_s - family.reserve_s(problem),
        )
        try:
            outcome = family.solve_exact(engine.value, problem, ctx)
        except DeadlineExceeded as exc:
            warnings.append(f"{engine.value}: {exc}; the model was not solved")
        except EngineDeclined as exc:
            warnings.append(f"{engine.value} declined: {exc}")
        if outcome is not None:
            stats.build_s, stats.solve_s = outcome.build_s, outcome.solve_s
            stats.variables, stats.constraints = outcome.variables, outcome.constraints
            stats.engine_status = outcome.engine_status
            warnings.extend(outcome.notes)

    if deadline.token.cancelled:
        warnings.append("cancelled: the search stopped early; this is the best plan found by then")

    # 3. check the exact plan like any other
    exact: _Candidate | None = None
    if outcome is not None and outcome.plan is not None:
        t1 = time.perf_counter()
        report = family.check(instance, outcome.plan)
        stats.check_s += time.perf_counter() - t1
        if report.ok:
            exact = _Candidate(outcome.plan, report.objective, engine.value, outcome.method)
        else:
            _defect(warnings, f"{engine.value} plan", report.violations)

    if outcome is not None and outcome.infeasible:
        if incumbent is None and exact is None:
            return _finish(
                family,
                problem,
                deadline,
                stats,
                senses,
                Status.infeasible,
                None,
                None,
                baselines,
                warnings,
                progress,
                options,
                explanations=outcome.conflicts,
            )
        _defect(warnings, f"{engine.value} infeasibility proof", ["a checked plan exists"])

    # 4. the best bound known, and the best checked plan against it
    if outcome is not None and outcome.bound is not None:
        bound = lex.tighter(bound, outcome.bound, senses)
    for cand in (incumbent, exact):
        if (
            cand is not None
            and bound is not None
            and not _consistent(cand.objective, bound, senses, warnings)
        ):
            bound = None
    chosen = incumbent
    if exact is not None and (
        incumbent is None or lex.no_worse(exact.objective, incumbent.objective, senses)
    ):
        chosen = exact
    if chosen is None:
        warnings.append("no plan passed the checker within the time limit")
        return _finish(
            family,
            problem,
            deadline,
            stats,
            senses,
            Status.fallback,
            None,
            bound,
            baselines,
            warnings,
            progress,
            options,
        )
    if exact is not None and outcome is not None and outcome.proven_optimal and chosen is exact:
        bound = lex.tighter(bound, chosen.objective, senses)
    if not progress or lex.better(chosen.objective, progress[-1].objective, senses):
        record(chosen.objective, bound, "final")  # e.g. a last repair pass after the engine's last report
    if bound is not None and lex.meets(chosen.objective, bound, senses):
        status = Status.optimal
    elif chosen.engine != "heuristic" or engine == EngineName.heuristic:
        status = Status.feasible
    else:
        status = Status.fallback
    return _finish(
        family,
        problem,
        deadline,
        stats,
        senses,
        status,
        chosen,
        bound,
        baselines,
        warnings,
        progress,
        options,
    )


def _finish(
    family: Family,
    problem: Any,
    deadline: Deadline,
    stats: Stats,
    senses: lex.Senses,
    status: Status,
    chosen: _Candidate | None,
    bound: Bound | None,
    baselines: list[Baseline],
    warnings: list[str],
    progress: list[ProgressPoint],
    options: SolveOptions,
    explanations: list[Any] | None = None,
) -> SolveResult:
    if explanations is None:
        explanations = family.explain(problem, chosen.plan) if chosen is not None else []
    norm_bound = lex.normalise_bound(bound, senses) if bound is not None else None
    stats.total_s = round(deadline.elapsed(), 6)
    return family.result_model(
        kind=family.kind,
        status=status,
        engine=chosen.engine if chosen else "none",
        method=chosen.method if chosen else "",
        plan=chosen.plan if chosen else None,
        objective=chosen.objective if chosen else {},
        objective_sense=dict(senses),
        bound=norm_bound,
        gap=lex.gap(chosen.objective, norm_bound, senses) if chosen else None,
        baseline=baselines[0] if baselines else None,
        baselines=baselines,
        explanations=explanations,
        warnings=warnings,
        stats=stats,
        progress=progress if options.return_progress else None,
    )


def _summary(violations: list[str]) -> str:
    return "; ".join(violations[:5]) + (f" (+{len(violations) - 5} more)" if len(violations) > 5 else "")


def _defect(warnings: list[str], what: str, violations: list[str]) -> None:
    shown = _summary(violations)
    log.error("defect: %s failed the checker: %s", what, shown)
    warnings.append(f"defect: {what} failed the checker and was discarded: {shown}")


def _consistent(obj: Objective, bound: Bound, senses: lex.Senses, warnings: list[str]) -> bool:
    try:
        lex.gap(obj, bound, senses)
        return True
    except ValueError as exc:
        log.error("defect: invalid bound discarded: %s", exc)
        warnings.append(f"defect: invalid bound discarded: {exc}")
        return False


def _meets(obj: Objective, bound: Bound | None, senses: lex.Senses, warnings: list[str]) -> bool:
    return bound is not None and _consistent(obj, bound, senses, warnings) and lex.meets(obj, bound, senses)
