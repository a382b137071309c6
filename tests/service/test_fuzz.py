"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis + hypothesis):
schema-valid and schema-breaking bodies, parameters and headers for every operation. Whatever comes in,
the answer is never a 5xx other than 503 (backpressure), and the service is healthy afterwards.

Bounded: MAX_EXAMPLES per operation and mode, derandomised (the same cases every run), no shrinking
phase budget beyond hypothesis' default, small solve budgets on the fuzzed service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from tests.service.helpers import Live, live_server, service_settings

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Short budgets so valid solves stay short; a small queue so backpressure (503) happens too."""
    settings_ = service_settings(
        tmp_path_factory.mktemp("fuzz"), sync_max_time_limit_s=0.3, queue_max=4, k8s_time_limit_s=0.05
    )
    with live_server(settings_.model_copy(update={"test_faults": False})) as live:
        yield live


def operations(live: Live) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
def test_no_server_errors_whatever_the_input(fuzzed: Live, mode: schemathesis.GenerationMode) -> None:
    tried: dict[str, int] = {}
    for operation in operations(fuzzed):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call(base_url=fuzzed.url, timeout=30)
            tried[case.operation.label] = tried.get(case.operation.label, 0) + 1
            assert response.status_code < 500 or response.status_code == 503, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"
            )

        try:
            call()
        except Unsatisfiable:  # nothing to break: an operation without parameters or body
            assert mode is schemathesis.GenerationMode.NEGATIVE
    assert len(tried) >= (12 if mode is schemathesis.GenerationMode.POSITIVE else 6)


def test_the_service_is_healthy_after_the_fuzzing(fuzzed: Live) -> None:
    ready = fuzzed.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["workers"]["alive"] == ready.json()["workers"]["size"]
