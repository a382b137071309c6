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

SOLVE_EXAMPLES: dict[str, dict[str, Any]] = {
    "pods": {
        "summary": "Pods: 2 nodes, 1 running and 2 pending pods",
        "description": "The default scheduler spreads web-1 onto node-b and strands batch-0; "
        "the optimal plan packs web-1 beside web-0 and places both.",
        "value": PODS_EXAMPLE,
    },
}
