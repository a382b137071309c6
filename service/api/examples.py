"""Request bodies shown in the OpenAPI docs; the tests post them, so they stay valid."""

from __future__ import annotations

from typing import Any

PODS_EXAMPLE: dict[str, Any] = {
    "kind": "pods",
    "instance": {
        "nodes": [
            {"name": "node-a", "capacity": {"cpu_m": 4000, "memory_mib": 8192}},
            {"name": "node-b", "capacity": {"cpu_m": 4000, "memory_mib": 8192}, "labels": {"zone": "b"}},
        ],
        "pods": [
            {
                "name": "web-0",
                "group": "web",
                "requests": {"cpu_m": 1500, "memory_mib": 2048},
                "priority": 10,
                "node": "node-a",
            },
            {
                "name": "web-1",
                "group": "web",
                "requests": {"cpu_m": 1500, "memory_mib": 2048},
                "priority": 10,
            },
            {"name": "batch-0", "requests": {"cpu_m": 3000, "memory_mib": 4096}, "priority": 1},
        ],
    },
    "options": {"time_limit_s": 2.0, "engine": "auto", "workers": 1, "seed": 0},
}

WORKFLOW_EXAMPLE: dict[str, Any] = {
    "kind": "workflow",
    "instance": {
        "tasks": [
            {"id": "retrieve", "modes": [{"duration": 2, "demands": {"cpu": 4}}]},
            {
                "id": "draft-a",
                "modes": [{"duration": 3, "demands": {"h100": 2}}, {"duration": 7, "demands": {"l4": 2}}],
                "predecessors": [{"task": "retrieve"}],
            },
            {
                "id": "draft-b",
                "modes": [{"duration": 3, "demands": {"h100": 2}}, {"duration": 7, "demands": {"l4": 2}}],
                "predecessors": [{"task": "retrieve"}],
            },
            {
                "id": "judge",
                "modes": [{"duration": 2, "demands": {"h100": 1}}],
                "predecessors": [{"task": "draft-a"}, {"task": "draft-b"}],
                "due": 9,
                "weight": 3,
            },
            {"id": "nightly-eval", "modes": [{"duration": 4, "demands": {"h100": 2}}], "due": 6, "weight": 1},
        ],
        "resources": [
            {"name": "h100", "capacity": 2, "calendar": [{"start": 12, "end": 14, "capacity": 0}]},
            {"name": "l4", "capacity": 4},
            {"name": "cpu", "capacity": 8},
        ],
        "objective": "weighted_tardiness",
    },
    "options": {"time_limit_s": 2.0, "engine": "auto", "workers": 1, "seed": 0},
}

SOLVE_EXAMPLES: dict[str, dict[str, Any]] = {
    "pods": {
        "summary": "Pods: 2 nodes, 1 running and 2 pending pods",
        "description": "The default scheduler spreads web-1 onto node-b and strands batch-0; "
        "the optimal plan packs web-1 beside web-0 and places both.",
        "value": PODS_EXAMPLE,
    },
    "workflow": {
        "summary": "Workflow: an LLM agent DAG on H100 and L4 pools, with an H100 maintenance window",
        "description": "Two drafts run on 2 H100s (3 units) or 2 L4s (7); the judge is due at 9 (weight 3) "
        "and the nightly eval at 6. The proven optimum runs the eval first, one draft on the L4s, and the "
        "judge 2 late (weighted tardiness 6); the explanations say why.",
        "value": WORKFLOW_EXAMPLE,
    },
}
