"""The protocol every problem family implements; the portfolio only talks to families through it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from models.common import Explanation, SolveOptions, SolveResult
from solver.engine.budget import Deadline
from solver.engine.objective import Bound, Objective, Senses


@dataclass
class CheckReport:
    """What the independent checker says of a plan: its violations and its recomputed objective."""

    violations: list[str]
    objective: dict[str, float]

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class HeuristicRun:
    name: str
    plan: Any
    seconds: float = 0.0


OnIncumbent = Callable[[Objective, Bound | None, str], None]


@dataclass
class ExactContext:
    """What an exact engine gets: the deadline, the options, a checked hint and a progress sink."""

    deadline: Deadline
    options: SolveOptions
    hint: Any | None
    hint_objective: Objective | None
    on_incumbent: OnIncumbent
    workers: int
    reserve_s: float = 0.0  # time kept back for decoding, checking and explaining after the engine
    bound: Bound | None = None  # the family's cheap bound, so a search can stop once it meets it
    # The engine's budget computed from the request alone (time limit less the family's reserve),
    # free of clock jitter: with workers=1, every deterministic limit and decision derives from it.
    nominal_s: float = 0.0


@dataclass
class ExactOutcome:
    plan: Any | None
    engine_status: str
    method: str = ""
    proven_optimal: bool = False
    infeasible: bool = False
    bound: Bound | None = None
    build_s: float = 0.0
    solve_s: float = 0.0
    variables: int = 0
    constraints: int = 0
    conflicts: list[Explanation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Family(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def instance_model(self) -> type[BaseModel]: ...

    @property
    def plan_model(self) -> type[BaseModel]: ...

    @property
    def result_model(self) -> type[SolveResult]: ...

    def prepare(self, instance: Any) -> Any:
        """Validate what relates several fields (raise InvalidInstance) and precompute what every
        stage reads; the result is what the other methods get, except the checker."""
        ...

    def senses(self, problem: Any) -> Senses:
        """Objective components in priority order with their direction."""
        ...

    def heuristics(self, problem: Any, deadline: Deadline) -> Sequence[HeuristicRun]:
        """The baselines users run today; the first is the one reported as `baseline`."""
        ...

    def check(self, instance: Any, plan: Any) -> CheckReport:
        """Independent oracle: feasibility and objective from the instance and the plan alone."""
        ...

    def infeasibility(self, problem: Any) -> list[Explanation]:
        """Conflicts that prove no plan exists, found cheaply before any search ([] when none is known)."""
        ...

    def bound(self, problem: Any) -> Bound | None:
        """A cheap valid bound (capacity, knapsack, critical path)."""
        ...

    def reserve_s(self, problem: Any) -> float:
        """Time needed after the exact engine returns: decoding, checking and explaining its plan."""
        ...

    def solve_exact(self, engine: str, problem: Any, ctx: ExactContext) -> ExactOutcome:
        """Run the CP-SAT or ILP formulation within ctx.deadline."""
        ...

    def explain(self, problem: Any, plan: Any) -> list[Explanation]:
        """For every item left out, the binding constraint with numbers."""
        ...


Registry = Mapping[str, Family]


def lexicographic_outcome(
    lex: Any,
    backend: Any,
    method: str,
    build_s: float,
    size: tuple[int, int],
    conflicts: Callable[[], list[Explanation]],
    decode: Callable[[], Any],
    bound: Bound | None = None,
) -> ExactOutcome:
    """The ExactOutcome of a solve_lexicographic run (a LexOutcome on its backend): infeasible with the
    family's `conflicts`, else proven or not, the bound (`bound`, or the tiers' own) and the `decode`d
    incumbent when there is one. Every family's exact engine ends this way."""
    out = ExactOutcome(
        None,
        lex.raw_status,
        method,
        build_s=build_s,
        solve_s=backend.solve_s,
        variables=size[0],
        constraints=size[1],
    )
    if lex.status == "infeasible":
        out.infeasible = True
        out.conflicts = conflicts()
        return out
    out.proven_optimal = lex.status == "optimal"
    out.bound = lex.bound if bound is None else bound
    if backend.has_solution():
        out.plan = decode()
    return out
