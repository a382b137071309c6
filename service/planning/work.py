"""What a worker runs for one task: solver.solve, then the family's checker on the plan it returned.

solve() already checks every plan it returns; the record says so again, independently, so that a
results file is evidence on its own: `check_ok` is the checker re-run here on the returned plan, and
the objective it recomputes compared with the one reported.
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import solver
from service.planning.records import ERROR, Baseline, Record
from solver.engine.errors import InvalidInstance

_OBJ_TOL = 1e-6
_MAX_VIOLATIONS = 10


@dataclass(frozen=True)
class Task:
    """One solve to run: a SolveRequest (plain JSON data, options final) and what the record says of it."""

    request: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)  # id, instance, source, format, kind, size
    keep_plan: bool = False
    error: str | None = None  # the request could not be read: the record says why, nothing is solved

    @property
    def options(self) -> dict[str, Any]:
        options = self.request.get("options")
        return options if isinstance(options, dict) else {}


def error_record(meta: dict[str, Any], options: dict[str, Any], error: str, wall_s: float = 0.0) -> Record:
    fields = {**meta, **_settings(options), "status": ERROR, "error": error}
    return Record(**fields, times={"wall_s": round(wall_s, 6)})


def solve_task(task: Task) -> dict[str, Any]:
    """Run one task; never raises: a failure is a record with status `error`. Returns plain data."""
    started = time.monotonic()
    if task.error is not None:
        return error_record(task.meta, task.options, task.error).model_dump(mode="json")
    try:
        record = _solve(task, started)
    except InvalidInstance as exc:
        record = error_record(
            task.meta, task.options, "invalid instance: " + "; ".join(map(str, exc.errors)), _since(started)
        )
    except Exception as exc:  # a defect in a family: recorded, and the batch goes on
        where = traceback.extract_tb(exc.__traceback__)[-1]
        error = f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
        record = error_record(task.meta, task.options, error, _since(started))
    return record.model_dump(mode="json")


def _solve(task: Task, started: float) -> Record:
    result = solver.solve(task.request, started=started)
    t0 = time.monotonic()
    check_ok: bool | None = None
    violations: list[str] = []
    if result.plan is not None:
        report = solver.check(result.kind, task.request["instance"], result.plan)
        violations = list(report.violations)
        violations += _objective_mismatch(result.objective, report.objective)
        check_ok = not violations
    recheck_s = time.monotonic() - t0
    stats = result.stats
    fields = {**task.meta, **_settings(result_options(task, result)), "kind": result.kind}
    return Record(
        **fields,
        status=result.status.value,
        engine=result.engine,
        method=result.method,
        objective=result.objective,
        objective_sense={k: str(v) for k, v in result.objective_sense.items()},
        bound=result.bound,
        gap=result.gap,
        baseline=Baseline(name=result.baseline.name, objective=result.baseline.objective)
        if result.baseline is not None
        else None,
        has_plan=result.plan is not None,
        check_ok=check_ok,
        check_violations=violations[:_MAX_VIOLATIONS],
        explanations=len(result.explanations),
        variables=stats.variables,
        constraints=stats.constraints,
        warnings=result.warnings,
        times={
            "total_s": stats.total_s,
            "heuristic_s": round(stats.heuristic_s, 6),
            "build_s": round(stats.build_s, 6),
            "solve_s": round(stats.solve_s, 6),
            "check_s": round(stats.check_s, 6),
            "recheck_s": round(recheck_s, 6),
            "wall_s": round(_since(started), 6),
        },
        plan=result.model_dump(mode="json")["plan"] if task.keep_plan else None,
    )


def result_options(task: Task, result: Any) -> dict[str, Any]:
    options = dict(task.options)
    options.setdefault("workers", result.stats.workers)
    return options


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    return {
        "requested_engine": options.get("engine", "auto"),
        "time_limit_s": options.get("time_limit_s"),
        "seed": options.get("seed"),
        "workers": options.get("workers"),
    }


def _objective_mismatch(reported: dict[str, float], recomputed: dict[str, float]) -> list[str]:
    out = []
    for name in sorted(set(reported) | set(recomputed)):
        a, b = reported.get(name), recomputed.get(name)
        if a is None or b is None:
            out.append(f"objective {name}: reported {a}, the checker computes {b}")
        elif not math.isclose(a, b, rel_tol=_OBJ_TOL, abs_tol=_OBJ_TOL):
            out.append(f"objective {name}: reported {a:g}, the checker computes {b:g}")
    return out


def _since(started: float) -> float:
    return time.monotonic() - started
