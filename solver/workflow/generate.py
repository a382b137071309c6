"""Seeded instance generators for the cases that motivate the family.

agentic    LLM agent workflows on GPU pools, in the shape of HEXGEN-Text2SQL and SAGA: each user request
           (released when it arrives, due by its latency objective, weighted by its tier) plans, links the
           schema, drafts several SQL candidates in parallel, executes them on a database pool and votes.
           LLM stages run on an H100 pool (fast, costly) or an L4 pool (slow, cheap) within a GPU-dollar
           budget: multi-mode with a non-renewable resource. Objective: weighted tardiness.
migration  A data-center migration (R-ConstraintBench): per service a snapshot, a WAN transfer, a cutover
           and a verification; databases cut over before the applications that use them, with a soak
           time (lag); the WAN is throttled during business hours and cutovers happen only in the nightly
           change windows (calendars); services on one storage array never transfer at once (disjunctive
           sets); a hard cutover deadline. Objective: makespan. Times in hours.
training   A training pipeline: shard downloads and tokenization, pretraining phases that run on 64 GPUs
           or, slower, on 32, checkpoint conversion with an upload delay, evaluation suites, fine-tuning
           variants and their evaluation, on a GPU cluster with a maintenance window. Objective: weighted
           completion of the fine-tuned variants' evaluations (the deliverables; every other task weighs 0).
           Times in hours.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.workflow import (
    CalendarWindow,
    Mode,
    NonRenewable,
    Predecessor,
    Resource,
    Task,
    WorkflowInstance,
)


def _after(*ids: str, lag: int = 0) -> list[Predecessor]:
    return [Predecessor(task=t, min_lag=lag) for t in ids]


def agentic(requests: int = 6, candidates: int = 3, seed: int = 0) -> WorkflowInstance:
    rng = np.random.default_rng([seed, requests, candidates])
    tasks: list[Task] = []
    h100_cost, l4_cost = 4, 1  # GPU-dollars per GPU per time unit, roughly the market ratio
    fastest = cheapest = 0  # total cost with every LLM stage on H100s, and on L4s

    def llm(tid: str, work: int, preds: list[Predecessor], release: int = 0, **extra: int) -> Task:
        nonlocal fastest, cheapest
        fast = max(1, work // 3)
        modes = [
            Mode(duration=fast, demands={"gpu-h100": 1, "gpu_dollars": h100_cost * fast}),
            Mode(duration=work, demands={"gpu-l4": 1, "gpu_dollars": l4_cost * work}),
        ]
        if work >= 6:  # a bigger model sharded over two H100s
            half = fast // 2 + 1
            modes.append(Mode(duration=half, demands={"gpu-h100": 2, "gpu_dollars": 2 * h100_cost * half}))
        fastest += h100_cost * fast
        cheapest += min(h100_cost * fast, l4_cost * work)
        return Task(id=tid, modes=modes, predecessors=preds, release=release, **extra)

    for r in range(requests):
        q = f"q{r}"
        arrive = int(r * rng.integers(2, 5))
        tier = int(rng.choice([1, 1, 3]))
        slo = int(rng.integers(14, 24)) if tier == 1 else int(rng.integers(9, 14))
        tasks.append(llm(f"{q}-plan", int(rng.integers(3, 7)), [], release=arrive))
        tasks.append(
            Task(
                id=f"{q}-schema",
                modes=[Mode(duration=int(rng.integers(1, 4)), demands={"cpu": 2})],
                predecessors=_after(f"{q}-plan"),
            )
        )
        execs = []
        for k in range(candidates):
            tasks.append(llm(f"{q}-gen{k}", int(rng.integers(4, 10)), _after(f"{q}-schema")))
            tasks.append(
                Task(
                    id=f"{q}-exec{k}",
                    modes=[Mode(duration=int(rng.integers(1, 3)), demands={"cpu": 1, "db-conn": 1})],
                    predecessors=_after(f"{q}-gen{k}"),
                )
            )
            execs.append(f"{q}-exec{k}")
        tasks.append(llm(f"{q}-vote", int(rng.integers(3, 6)), _after(*execs)))
        tasks.append(
            Task(
                id=f"{q}-answer",
                modes=[Mode(duration=1, demands={"cpu": 1})],
                predecessors=_after(f"{q}-vote"),
                due=arrive + slo,
                weight=tier,
            )
        )
    return WorkflowInstance(
        tasks=tasks,
        resources=[
            Resource(name="gpu-h100", capacity=4),
            Resource(name="gpu-l4", capacity=8),
            Resource(name="cpu", capacity=16),
            Resource(name="db-conn", capacity=3),
        ],
        # half-way between the cheapest plan and all stages on H100s: the budget binds
        nonrenewable=[NonRenewable(name="gpu_dollars", budget=(cheapest + fastest) // 2)],
        objective="weighted_tardiness",
    )


def migration(
    services: int = 12, arrays: int = 4, days: int | None = None, seed: int = 0
) -> WorkflowInstance:
    """`days` (the cutover deadline) defaults to room for about six services a day."""
    days = days if days is not None else max(5, -(-services // 6) + 2)
    rng = np.random.default_rng([seed, services, arrays, days])
    tasks: list[Task] = []
    array_of: dict[int, list[str]] = {a: [] for a in range(arrays)}
    kinds = ["db" if s < max(1, services // 4) else "app" for s in range(services)]
    for s in range(services):
        sid = f"{kinds[s]}{s}"
        size = int(rng.integers(2, 9))  # hours of transfer at full WAN share
        tasks.append(Task(id=f"{sid}-snapshot", modes=[Mode(duration=1, demands={"storage-io": 1})]))
        tasks.append(
            Task(
                id=f"{sid}-transfer",
                modes=[
                    Mode(duration=size, demands={"wan_gbps": 4}),
                    Mode(duration=2 * size, demands={"wan_gbps": 2}),
                ],
                predecessors=_after(f"{sid}-snapshot"),
            )
        )
        array_of[int(rng.integers(0, arrays))].append(f"{sid}-transfer")
        deps: list[Predecessor] = _after(f"{sid}-transfer")
        if kinds[s] == "app":  # its database must be cut over and soaked first
            db = int(rng.integers(0, max(1, services // 4)))
            deps += _after(f"db{db}-verify", lag=2)
        tasks.append(
            Task(
                id=f"{sid}-cutover",
                modes=[Mode(duration=int(rng.integers(1, 3)), demands={"ops-crew": 1, "change-window": 1})],
                predecessors=deps,
            )
        )
        tasks.append(
            Task(
                id=f"{sid}-verify",
                modes=[Mode(duration=1, demands={"ops-crew": 1})],
                predecessors=_after(f"{sid}-cutover"),
                deadline=24 * days,
            )
        )
    business = [CalendarWindow(start=24 * d + 8, end=24 * d + 18, capacity=4) for d in range(days)]
    daytime = [CalendarWindow(start=24 * d + 6, end=24 * d + 22, capacity=0) for d in range(days)]
    return WorkflowInstance(
        tasks=tasks,
        resources=[
            Resource(name="wan_gbps", capacity=10, calendar=business),
            Resource(name="storage-io", capacity=2),
            Resource(name="ops-crew", capacity=2),
            Resource(name="change-window", capacity=2, calendar=daytime),
        ],
        disjunctive=[members for members in array_of.values() if len(members) > 1],
        objective="makespan",
    )


def training(phases: int = 3, shards: int = 6, variants: int = 3, seed: int = 0) -> WorkflowInstance:
    rng = np.random.default_rng([seed, phases, shards, variants])
    tasks: list[Task] = []
    for k in range(shards):
        tasks.append(
            Task(
                id=f"download-{k}",
                modes=[Mode(duration=int(rng.integers(1, 4)), demands={"net_gbps": 10})],
                weight=0,
            )
        )
        tasks.append(
            Task(
                id=f"tokenize-{k}",
                modes=[Mode(duration=int(rng.integers(2, 5)), demands={"cpu": 32})],
                predecessors=_after(f"download-{k}"),
                weight=0,
            )
        )
    prev = [f"tokenize-{k}" for k in range(shards)]
    benches = ["mmlu", "gsm8k", "humaneval"]
    for ph in range(phases):
        hours = int(rng.integers(8, 15))
        tasks.append(
            Task(
                id=f"pretrain-{ph}",
                modes=[
                    Mode(duration=hours, demands={"gpu": 64, "cpu": 16}),
                    Mode(duration=2 * hours + 2, demands={"gpu": 32, "cpu": 8}),
                ],
                predecessors=_after(*prev),
                weight=0,
            )
        )
        tasks.append(
            Task(
                id=f"convert-{ph}",
                modes=[Mode(duration=1, demands={"cpu": 16})],
                predecessors=_after(f"pretrain-{ph}", lag=1),  # the checkpoint upload
                weight=0,
            )
        )
        for b in benches:
            tasks.append(
                Task(
                    id=f"eval-{ph}-{b}",
                    modes=[Mode(duration=int(rng.integers(1, 3)), demands={"gpu": 8})],
                    predecessors=_after(f"convert-{ph}"),
                    weight=0,
                )
            )
        prev = [f"pretrain-{ph}"]
    last = f"convert-{phases - 1}"
    for v in range(variants):
        tasks.append(
            Task(
                id=f"sft-{v}",
                modes=[
                    Mode(duration=int(rng.integers(3, 7)), demands={"gpu": 32}),
                    Mode(duration=int(rng.integers(7, 12)), demands={"gpu": 16}),
                ],
                predecessors=_after(last),
                weight=0,
            )
        )
        tasks.append(
            Task(
                id=f"eval-sft-{v}",
                modes=[Mode(duration=2, demands={"gpu": 8})],
                predecessors=_after(f"sft-{v}"),
                weight=int(rng.integers(1, 6)),
            )
        )
    return WorkflowInstance(
        tasks=tasks,
        resources=[
            Resource(name="gpu", capacity=64, calendar=[CalendarWindow(start=30, end=38, capacity=32)]),
            Resource(name="cpu", capacity=64),
            Resource(name="net_gbps", capacity=20),
        ],
        objective="weighted_completion",
    )


PRESETS: dict[str, Callable[..., WorkflowInstance]] = {
    "agentic": agentic,
    "migration": migration,
    "training": training,
}
