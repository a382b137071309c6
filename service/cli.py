"""The `schedopt` command: solve and check files, generate instances, serve the API.

Output meant for programs (SolveResult, request JSON) goes to stdout, plain. Bad input exits 2 with
one line per problem on stderr, `<where>: <reason>`; `check` exits 1 when the plan breaks a rule.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

import solver
from models.common import EngineName, SolveOptions
from models.pods import PodsInstance
from service.inputs import InputError, RequestFile, json_path, load_plan
from service.planning.commands import batch, compare
from service.settings import get_settings
from solver.engine.errors import InvalidInstance
from solver.pods.generate import paper_instance

EXIT_VIOLATIONS = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="Scheduling optimizer: solve instances within a time budget, with checked plans.",
    no_args_is_help=True,
    add_completion=False,
)
generate_app = typer.Typer(help="Write seeded instances as SolveRequest JSON.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")
app.command()(batch)  # many instances at once, locally or on Ray: service/planning
app.command()(compare)

Kind = Annotated[str | None, typer.Option(help="Problem family; with it, FILE may be a bare instance.")]
Out = Annotated[Path | None, typer.Option("--out", "-o", dir_okay=False, help="Write here, not to stdout.")]
TimeLimit = Annotated[
    float | None, typer.Option("--time-limit", help="The whole budget in seconds (0 < s <= 600).")
]


@contextmanager
def _reporting() -> Iterator[None]:
    try:
        yield
    except InputError as exc:
        for line in exc.lines:
            typer.secho(line, fg="red", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _emit(text: str, out: Path | None, summary: str) -> None:
    """Print to stdout, or write to OUT and say what was written on stderr."""
    if out is None:
        typer.echo(text)
        return
    try:
        out.write_text(text + "\n")
    except OSError as exc:
        raise InputError([f"{out}: cannot write: {exc.strerror or exc}"]) from None
    typer.echo(f"{summary} -> {out}", err=True)


class InputFormat(StrEnum):
    json = "json"
    psplib = "psplib"
    jobshop = "jobshop"
    pipedream = "pipedream"
    pipeedge = "pipeedge"


class PipelineMode(StrEnum):
    inference = "inference"
    training = "training"


class PipelineObjective(StrEnum):
    throughput = "throughput"
    latency = "latency"
    pareto = "pareto"


Pipeline = "pipedream/pipeedge"


@app.command()
def solve(
    file: Annotated[Path, typer.Argument(help="SolveRequest JSON: {kind, instance, options}.")],
    time_limit: TimeLimit = None,
    engine: Annotated[EngineName | None, typer.Option(help="auto picks CP-SAT.")] = None,
    workers: Annotated[int | None, typer.Option(help="CP-SAT search workers (1..64).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed; reproducible with --workers 1.")] = None,
    progress: Annotated[bool, typer.Option("--progress", help="Include the incumbent series.")] = False,
    out: Out = None,
    kind: Kind = None,
    fmt: Annotated[
        InputFormat,
        typer.Option(
            "--format",
            help="json: a SolveRequest or (with --kind) a bare instance; psplib (.sm/.mm) and jobshop "
            "(OR-Library, Taillard): a benchmark file, solved as a workflow instance; pipedream (graph.txt) "
            "and pipeedge (its YAML folder or models.yml): a profile, solved as a pipeline instance.",
        ),
    ] = InputFormat.json,
    devices: Annotated[
        str | None,
        typer.Option(
            help=f"{Pipeline}: N identical devices, or a device-set JSON (devices, network, speedup)."
        ),
    ] = None,
    device_type: Annotated[
        str | None, typer.Option(help=f"{Pipeline}: type of the N devices (default gpu).")
    ] = None,
    memory_gib: Annotated[
        float | None, typer.Option(help=f"{Pipeline}: memory of the N devices [16].")
    ] = None,
    bandwidth_gbps: Annotated[
        float | None, typer.Option(help=f"{Pipeline}: between the N devices [10].")
    ] = None,
    mode: Annotated[
        PipelineMode | None, typer.Option(help="pipedream: inference or training (1F1B).")
    ] = None,
    objective: Annotated[
        PipelineObjective | None, typer.Option(help=f"{Pipeline}: what to optimise (default throughput).")
    ] = None,
    microbatches: Annotated[
        int | None, typer.Option(min=1, help="pipedream training: per batch [1].")
    ] = None,
    max_stages: Annotated[
        int | None, typer.Option(min=1, help=f"{Pipeline}: at most this many stages.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="pipeedge: the model in models.yml [the first].")] = None,
) -> None:
    """Solve FILE and print the SolveResult; flags override the file's options.

    Exit 0 with a plan or a proven infeasibility, 2 for invalid input.
    """
    started = time.monotonic()  # the budget counts from here, reading the file included
    flags = {
        "time_limit_s": ("--time-limit", time_limit),
        "engine": ("--engine", engine),
        "workers": ("--workers", workers),
        "seed": ("--seed", seed),
        "return_progress": ("--progress", True if progress else None),
    }
    with _reporting():
        overrides = {name: fv for name, fv in flags.items() if fv[1] is not None}
        given = {
            "--devices": devices,
            "--device-type": device_type,
            "--memory-gib": memory_gib,
            "--bandwidth-gbps": bandwidth_gbps,
            "--mode": mode.value if mode else None,
            "--objective": objective.value if objective else None,
            "--microbatches": microbatches,
            "--max-stages": max_stages,
            "--model": model,
        }
        pipeline = {name: value for name, value in given.items() if value is not None}
        source = RequestFile(file, kind, overrides, None if fmt is InputFormat.json else fmt.value, pipeline)
        try:
            result = solver.solve(source.request, started=started)
        except InvalidInstance as exc:
            raise InputError(source.describe(exc.errors)) from None
        summary = f"{result.status} ({result.engine}) in {result.stats.total_s:.3f} s"
        _emit(result.model_dump_json(indent=2), out, summary)


@app.command()
def check(
    file: Annotated[Path, typer.Argument(help="The request (with --kind, the instance) the plan is for.")],
    plan: Annotated[Path, typer.Argument(help="A plan JSON, or a SolveResult JSON (its plan is used).")],
    kind: Kind = None,
) -> None:
    """Check PLAN against FILE with the independent checker: the recomputed objective and every violation.

    Exit 0 when feasible, 1 when a rule is broken, 2 for invalid input.
    """
    with _reporting():
        source = RequestFile(file, kind)
        request = source.request
        plan_data, prefix = load_plan(plan)
        try:
            report = solver.check(request.kind, request.instance, plan_data)
        except InvalidInstance as exc:
            in_plan = [e for e in exc.errors if e.loc[:1] == ("plan",)]
            lines = [f"{plan}: {json_path((*prefix, *e.loc[1:]))}: {e.msg}" for e in in_plan]
            lines += source.describe(e for e in exc.errors if e.loc[:1] != ("plan",))
            raise InputError(lines) from None
    typer.echo("objective:")
    for name, value in report.objective.items():
        typer.echo(f"  {name} = {value:g}")
    if report.ok:
        typer.echo("feasible: no violations")
        return
    typer.echo(f"violations ({len(report.violations)}):")
    for violation in report.violations:
        typer.echo(f"  - {violation}")
    raise typer.Exit(EXIT_VIOLATIONS)


class Preset(StrEnum):
    paper = "paper"
    alibaba = "alibaba"


class Lifetimes(StrEnum):
    ignore = "ignore"
    trace = "trace"


@generate_app.command("pods")
def generate_pods(
    preset: Annotated[
        Preset, typer.Option(help="paper: the synthetic grid of 'Priority Matters'; alibaba: the GPU trace.")
    ] = Preset.paper,
    nodes: Annotated[int | None, typer.Option(min=1, help="paper: identical nodes [default: 4].")] = None,
    pods_per_node: Annotated[int | None, typer.Option(min=1, help="paper: [default: 4].")] = None,
    priorities: Annotated[int | None, typer.Option(min=1, help="paper: levels [default: 2].")] = None,
    util: Annotated[float | None, typer.Option(help="paper: requests / capacity [default: 1.0].")] = None,
    running: Annotated[int | None, typer.Option(min=0, help="alibaba: snapshot at the R-th arrival.")] = None,
    pending: Annotated[int | None, typer.Option(min=0, help="alibaba: next arrivals, left pending.")] = None,
    sample_nodes: Annotated[int | None, typer.Option(min=1, help="alibaba: [default: all nodes].")] = None,
    lifetimes: Annotated[Lifetimes | None, typer.Option(help="alibaba: [default: ignore].")] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    time_limit: TimeLimit = None,
    out: Out = None,
) -> None:
    """Write a pods SolveRequest: an instance from a preset, and options with the time limit."""
    paper = {"--nodes": nodes, "--pods-per-node": pods_per_node, "--priorities": priorities, "--util": util}
    alibaba = {
        "--running": running,
        "--pending": pending,
        "--sample-nodes": sample_nodes,
        "--lifetimes": lifetimes,
    }
    with _reporting():
        other, owner = (alibaba, Preset.alibaba) if preset is Preset.paper else (paper, Preset.paper)
        if stray := [flag for flag, value in other.items() if value is not None]:
            raise InputError([f"{flag}: only for --preset {owner}" for flag in stray])
        options = _options(time_limit)
        if preset is Preset.paper:
            util = 1.0 if util is None else util
            instance = _paper(nodes or 4, pods_per_node or 4, priorities or 2, util, seed)
        else:
            instance = _alibaba(
                running=running,
                pending=pending,
                nodes=sample_nodes,
                lifetimes=None if lifetimes is None else lifetimes.value,
                seed=seed,
            )
        request = {
            "kind": "pods",
            "instance": instance.model_dump(mode="json", exclude_defaults=True),
            "options": {"time_limit_s": options.time_limit_s},
        }
        summary = f"pods: {len(instance.nodes)} nodes, {len(instance.pods)} pods"
        _emit(json.dumps(request, indent=2), out, summary)


class WorkflowPreset(StrEnum):
    agentic = "agentic"
    migration = "migration"
    training = "training"


WORKFLOW_SIZE = {"agentic": "requests", "migration": "services", "training": "variants"}


@generate_app.command("workflow")
def generate_workflow(
    preset: Annotated[
        WorkflowPreset,
        typer.Option(
            help="agentic: LLM agent DAGs on H100/L4 pools within a GPU budget (weighted tardiness); "
            "migration: a data-center migration with change windows and shared storage arrays (makespan); "
            "training: a pretraining/fine-tuning pipeline on a GPU cluster (weighted completion)."
        ),
    ] = WorkflowPreset.agentic,
    size: Annotated[
        int | None,
        typer.Option(
            min=1, help="agentic: user requests [6]; migration: services [12]; training: variants [3]."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    time_limit: TimeLimit = None,
    out: Out = None,
) -> None:
    """Write a workflow SolveRequest: a seeded instance of a preset, and options with the time limit."""
    from solver.workflow.generate import PRESETS

    with _reporting():
        options = _options(time_limit)
        given = {} if size is None else {WORKFLOW_SIZE[preset.value]: size}
        instance = PRESETS[preset.value](seed=seed, **given)
        request = {
            "kind": "workflow",
            "instance": instance.model_dump(mode="json", exclude_defaults=True),
            "options": {"time_limit_s": options.time_limit_s},
        }
        summary = (
            f"workflow ({preset.value}): {len(instance.tasks)} tasks, {len(instance.resources)} resources"
        )
        _emit(json.dumps(request, indent=2), out, summary)


class BatchingPreset(StrEnum):
    azure = "azure"
    tiny = "tiny"


@generate_app.command("batching")
def generate_batching(
    preset: Annotated[
        BatchingPreset,
        typer.Option(
            help="azure: a heavy-load step from the Azure LLM inference trace (2023, conversations); "
            "tiny: a small random step exercising every rule."
        ),
    ] = BatchingPreset.azure,
    waiting: Annotated[
        int | None, typer.Option(min=0, help="Waiting requests [azure: 1000, tiny: 4].")
    ] = None,
    running: Annotated[
        int | None, typer.Option(min=0, help="Running requests [azure: 256, tiny: 3].")
    ] = None,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    time_limit: TimeLimit = None,
    out: Out = None,
) -> None:
    """Write a batching SolveRequest: one scheduling step of an LLM server, and options with the time
    limit."""
    from solver.batching.generate import azure_step, tiny_step

    with _reporting():
        options = _options(time_limit)
        try:
            if preset is BatchingPreset.azure:
                instance = azure_step(
                    waiting=1000 if waiting is None else waiting,
                    running=256 if running is None else running,
                    seed=seed,
                )
            else:
                instance = tiny_step(
                    seed, running=3 if running is None else running, waiting=4 if waiting is None else waiting
                )
        except (OSError, ValueError) as exc:
            raise InputError([f"--preset {preset.value}: {exc}"]) from None
        request = {
            "kind": "batching",
            "instance": instance.model_dump(mode="json", exclude_defaults=True),
            "options": {"time_limit_s": options.time_limit_s},
        }
        summary = (
            f"batching ({preset.value}): {len(instance.running)} running, {len(instance.waiting)} waiting"
        )
        _emit(json.dumps(request, indent=2), out, summary)


def _options(time_limit: float | None) -> SolveOptions:
    try:
        return SolveOptions.model_validate({} if time_limit is None else {"time_limit_s": time_limit})
    except ValidationError as exc:
        raise InputError([f"--time-limit: {e['msg']}" for e in exc.errors()]) from None


def _paper(nodes: int, pods_per_node: int, priorities: int, util: float, seed: int) -> PodsInstance:
    if util <= 0:
        raise InputError([f"--util: must be > 0, got {util:g}"])
    return paper_instance(nodes, pods_per_node, priorities, util, seed)


def _alibaba(**given: Any) -> PodsInstance:
    """Flags left out fall back to the loader's own defaults."""
    try:  # imported here: the trace loader is optional for every other command
        from solver.pods.trace import alibaba_snapshot
    except ImportError as exc:
        raise InputError([f"--preset alibaba: the trace loader is missing ({exc})"]) from None
    try:
        return alibaba_snapshot(**{k: v for k, v in given.items() if v is not None})
    except (OSError, ValueError) as exc:
        raise InputError([f"--preset alibaba: {exc}"]) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [default: SCHEDOPT_HOST].")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="[default: SCHEDOPT_PORT].")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="Solver processes [default: SCHEDOPT_WORKERS, the CPUs]."),
    ] = None,
) -> None:
    """Run the service: REST API (OpenAPI docs at /docs), solver workers, job store, k8s extender."""
    import uvicorn  # the web stack loads only for serve

    from service import logs
    from service.api import create_app

    with _reporting():
        try:
            settings = get_settings()
        except ValidationError as exc:
            lines = [f"SCHEDOPT_{str(e['loc'][0]).upper()}: {e['msg']}" for e in exc.errors()]
            raise InputError(lines) from None
    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    logs.configure(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=settings.host if host is None else host,
        port=settings.port if port is None else port,
        log_level=settings.log_level,
        log_config=None,  # our JSON handler (service.logs) formats uvicorn's records too
        access_log=False,  # one access line per request comes from RequestContextMiddleware
        # in-flight synchronous solves end within their budget; event streams are cut after this
        timeout_graceful_shutdown=int(settings.sync_max_time_limit_s) + 5,
    )
