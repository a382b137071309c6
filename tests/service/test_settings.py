from __future__ import annotations

import os

import pytest

from service.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SCHEDOPT_")]:
        monkeypatch.delenv(name)


def test_defaults() -> None:
    s = Settings()
    assert (s.host, s.port, s.sync_max_time_limit_s) == ("127.0.0.1", 8000, 30.0)
    assert s.max_body_bytes == 32 * 2**20


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDOPT_PORT", "9001")
    monkeypatch.setenv("SCHEDOPT_SYNC_MAX_TIME_LIMIT_S", "5")
    s = Settings()
    assert (s.port, s.sync_max_time_limit_s) == (9001, 5.0)
