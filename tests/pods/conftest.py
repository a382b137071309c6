"""Markers of the pods tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: full-size runs; skip with -m 'not slow'")
