"""Task DAGs on limited resources (RCPSP): the request and plan contract of kind `workflow`.

Times are integers in one unit of the caller's choosing (seconds, minutes, hours); a task in mode m
occupies [start, start + duration) and holds its demands for that whole interval. Shape and range
rules live here; rules that relate several fields (unknown predecessors, cycles, duplicate ids,
overlapping calendar windows) are checked by `solver.workflow.validate` so that their errors name
the exact path.

Objectives are lexicographic: `makespan` alone, or the chosen weighted objective first and the
makespan second (among the plans with the least weighted tardiness, the shortest one).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from models.common import SolveOptions, SolveResult, StrictModel

MAX_TIME = 10**7  # releases, deadlines, due dates and calendar times
MAX_DURATION = 10**6
MAX_AMOUNT = 10**9  # capacities, demands, budgets
MAX_WEIGHT = 10**4

Amount = Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
Objective = Literal["makespan", "weighted_tardiness", "weighted_completion"]
MAKESPAN = "makespan"


class Mode(StrictModel):
    """One way to run a task: its duration and what it holds while it runs (or consumes, for
    non-renewable resources)."""

    duration: int = Field(ge=0, le=MAX_DURATION)
    demands: dict[str, Amount] = Field(
        default_factory=dict, description="Amount per resource name (renewable or non-renewable)."
    )


class Predecessor(StrictModel):
    """start(this task) >= end(task) + min_lag; min_lag 0 is finish-to-start, negative overlaps."""

    task: str = Field(min_length=1)
    min_lag: int = Field(0, ge=-MAX_DURATION, le=MAX_DURATION)


class Task(StrictModel):
    id: str = Field(min_length=1)
    modes: list[Mode] = Field(min_length=1, description="One mode is the common case.")
    predecessors: list[Predecessor] = Field(default_factory=list)
    release: int = Field(0, ge=0, le=MAX_TIME, description="Earliest start.")
    deadline: int | None = Field(None, ge=0, le=MAX_TIME, description="Hard: latest end.")
    due: int | None = Field(None, ge=0, le=MAX_TIME, description="Soft: end after it is tardy.")
    weight: int = Field(1, ge=0, le=MAX_WEIGHT, description="Of tardiness and of completion time.")


class CalendarWindow(StrictModel):
    """Capacity in [start, end) instead of the resource's capacity: downtime (0) or a reduction."""

    start: int = Field(ge=0, le=MAX_TIME)
    end: int = Field(ge=1, le=MAX_TIME)
    capacity: int = Field(ge=0, le=MAX_AMOUNT)


class Resource(StrictModel):
    """Renewable: held while a task runs, given back at its end."""

    name: str = Field(min_length=1)
    capacity: int = Field(ge=0, le=MAX_AMOUNT)
    calendar: list[CalendarWindow] = Field(default_factory=list)


class NonRenewable(StrictModel):
    """Consumed once per task by the chosen mode, within a total budget (money, energy, quota)."""

    name: str = Field(min_length=1)
    budget: int = Field(ge=0, le=MAX_AMOUNT)


class WorkflowInstance(StrictModel):
    tasks: list[Task] = Field(min_length=1)
    resources: list[Resource] = Field(default_factory=list)
    nonrenewable: list[NonRenewable] = Field(default_factory=list)
    disjunctive: list[list[str]] = Field(
        default_factory=list, description="Sets of task ids of which no two may run at the same time."
    )
    objective: Objective = Field(
        "makespan",
        description="makespan; or weighted_tardiness / weighted_completion first, then the makespan.",
    )


class WorkflowRequest(StrictModel):
    kind: Literal["workflow"] = "workflow"
    instance: WorkflowInstance
    options: SolveOptions = Field(default_factory=SolveOptions)


class ScheduledTask(BaseModel):
    id: str
    start: int
    end: int
    mode: int = Field(0, description="Index into the task's modes.")


class WorkflowPlan(BaseModel):
    tasks: list[ScheduledTask] = Field(description="In the instance's task order.")
    profile: dict[str, list[tuple[int, int]]] = Field(
        default_factory=dict,
        description="Per renewable resource, [t, used] at each change point from t = 0: `used` holds "
        "from t until the next point.",
    )
    consumed: dict[str, int] = Field(default_factory=dict, description="Per non-renewable resource.")
    critical_chain: list[str] = Field(
        default_factory=list,
        description="Tasks, first to last, each starting when the one before ends (a precedence with its "
        "lag, or a shared resource), the last ending at the makespan.",
    )


class WorkflowResult(SolveResult):
    kind: Literal["workflow"] = "workflow"
    plan: WorkflowPlan | None = None
