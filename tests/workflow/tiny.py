"""Seeded tiny workflow instances exercising every rule: multi-mode tasks, lags, releases, deadlines,
due dates and weights, calendars, disjunctive sets, non-renewable budgets, each objective."""

from __future__ import annotations

import random

from models.workflow import WorkflowInstance

OBJECTIVES = ("makespan", "weighted_tardiness", "weighted_completion")


def tiny_instance(seed: int, n: int = 5) -> WorkflowInstance:
    rng = random.Random(seed)
    caps = {"r0": rng.randint(2, 4), "r1": rng.randint(1, 3)}
    resources = []
    for name, cap in caps.items():
        res: dict = {"name": name, "capacity": cap}
        if rng.random() < 0.4:
            start = rng.randint(0, 4)
            res["calendar"] = [
                {"start": start, "end": start + rng.randint(1, 3), "capacity": rng.randint(0, cap - 1)}
            ]
        resources.append(res)
    budget = rng.random() < 0.3
    tasks = []
    for j in range(n):
        modes = []
        for _ in range(1 if rng.random() < 0.6 else 2):
            demands = {name: rng.randint(0, cap) for name, cap in caps.items()}
            if budget:
                demands["money"] = rng.randint(0, 3)
            modes.append({"duration": rng.choice([0, 1, 2, 2, 3, 3]), "demands": demands})
        preds = [
            {"task": f"t{i}", "min_lag": rng.choice([0, 0, 0, 1, 2])} for i in range(j) if rng.random() < 0.3
        ]
        task: dict = {"id": f"t{j}", "modes": modes, "predecessors": preds}
        if rng.random() < 0.3:
            task["release"] = rng.randint(1, 4)
        if rng.random() < 0.15:
            task["deadline"] = rng.randint(4, 12)
        if rng.random() < 0.6:
            task["due"] = rng.randint(2, 8)
        task["weight"] = rng.randint(0, 3)
        tasks.append(task)
    inst: dict = {"tasks": tasks, "resources": resources, "objective": rng.choice(OBJECTIVES)}
    if budget:
        inst["nonrenewable"] = [{"name": "money", "budget": rng.randint(2 * n // 2, 2 * n)}]
    if rng.random() < 0.4:
        inst["disjunctive"] = [rng.sample([f"t{j}" for j in range(n)], rng.randint(2, 3))]
    return WorkflowInstance.model_validate(inst)
