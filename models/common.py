"""Types shared by every problem family: solve options and the result envelope.

The envelope is the same for every family so that the API, the CLI, the notebooks and the
benchmarks read one shape; only `plan` differs, and each family narrows it in its own module.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_TIME_LIMIT_S = 600.0


class StrictModel(BaseModel):
    """Input models reject unknown fields, so a typo is an error that names the field."""

    model_config = ConfigDict(extra="forbid")


class EngineName(StrEnum):
    auto = "auto"
    cpsat = "cpsat"
    ilp = "ilp"
    heuristic = "heuristic"


class Status(StrEnum):
    optimal = "optimal"  # proven: the plan meets the best bound
    feasible = "feasible"  # the requested engine's plan, not proven optimal
    fallback = "fallback"  # the exact engine had nothing better in time; a heuristic's plan
    infeasible = "infeasible"  # proven: no plan meets the hard constraints


Sense = Literal["max", "min"]


class SolveOptions(StrictModel):
    time_limit_s: float = Field(
        1.0,
        gt=0,
        le=MAX_TIME_LIMIT_S,
        description="The whole budget, model building and checking included (0 < s <= 600).",
    )
    engine: EngineName = Field(
        EngineName.auto, description="auto picks CP-SAT; heuristic skips the exact engine."
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=64,
        description="CP-SAT search workers (1..64); default: the machine's cores, at most 8.",
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Random seed; with workers=1 the plan is reproducible."
    )
    relative_gap: float = Field(0.0, ge=0, le=1, description="Stop the exact engine once this gap is proven.")
    return_progress: bool = Field(False, description="Include the incumbent series in the result.")
    ilp_solver: Literal["highs", "cbc"] = Field("highs", description="Backend of the ILP engine.")


class Explanation(BaseModel):
    """Why an item was left out: the binding constraint in words, with the numbers behind it."""

    item: str
    constraint: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class Stats(BaseModel):
    heuristic_s: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0
    check_s: float = 0.0
    total_s: float = 0.0
    variables: int = 0
    constraints: int = 0
    engine_status: str = ""
    workers: int = 0


class ProgressPoint(BaseModel):
    t: float = Field(description="Seconds since the request started.")
    objective: dict[str, float]
    bound: dict[str, float | None] | None = None
    source: str = ""


class Baseline(BaseModel):
    """A heuristic run on the same instance, so every answer shows what it gained."""

    name: str
    objective: dict[str, float]
    feasible: bool = True


class SolveResult(BaseModel):
    kind: str
    status: Status
    engine: str = Field(description="Engine that produced the plan: cpsat, ilp or heuristic.")
    method: str = Field("", description="Finer detail: the heuristic's name, or the exact model used.")
    plan: Any = None
    objective: dict[str, float] = Field(default_factory=dict, description="Components in priority order.")
    objective_sense: dict[str, Sense] = Field(default_factory=dict)
    bound: dict[str, float | None] | None = Field(
        None, description="Best proven bound, lexicographic in the objective's order (None: not bounded)."
    )
    gap: float | None = Field(
        None, description="Relative gap on the first component where plan and bound differ."
    )
    baseline: Baseline | None = None
    baselines: list[Baseline] = Field(default_factory=list)
    explanations: list[Explanation] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    stats: Stats = Field(default_factory=Stats)
    progress: list[ProgressPoint] | None = None
