"""Service test fixtures: small pods requests, and the real service on loopback (see helpers.py)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.helpers import Live, live_server, service_settings


@pytest.fixture
def request_data() -> dict[str, Any]:
    """Two nodes of 1000 m; a running pod of 300 m on node-a and two pending pods of 600 m: all fit."""
    return copy.deepcopy(
        {
            "kind": "pods",
            "instance": {
                "nodes": [
                    {"name": "node-a", "capacity": {"cpu_m": 1000, "memory_mib": 1024}},
                    {"name": "node-b", "capacity": {"cpu_m": 1000, "memory_mib": 1024}},
                ],
                "pods": [
                    {"name": "run-0", "requests": {"cpu_m": 300, "memory_mib": 128}, "node": "node-a"},
                    {"name": "web-0", "requests": {"cpu_m": 600, "memory_mib": 256}, "priority": 2},
                    {"name": "web-1", "requests": {"cpu_m": 600, "memory_mib": 256}, "priority": 1},
                ],
            },
            "options": {"time_limit_s": 0.3, "workers": 1},
        }
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with live_server(service_settings(tmp_path)) as server:
        yield server
