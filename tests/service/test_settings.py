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


def test_service_defaults() -> None:
    s = Settings()
    assert s.workers == len(os.sched_getaffinity(0)) and s.grace_s == 0.03 and s.queue_max == 256
    assert s.api_keys == [] and s.test_faults is False
    assert s.database_url() == "sqlite:///schedopt.sqlite"
    assert s.instance_limits == {"pods.nodes": 20_000, "pods.pods": 200_000}


def test_api_keys_are_comma_separated_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDOPT_API_KEYS", " k1,k2 ,, ")
    s = Settings()
    assert [k.get_secret_value() for k in s.api_keys] == ["k1", "k2"]
    assert "k1" not in repr(s)


def test_limits_and_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDOPT_INSTANCE_LIMITS", '{"pods.nodes": 5, "workflow.tasks": 7}')
    monkeypatch.setenv("SCHEDOPT_DB_URL", "postgresql+psycopg://u@db/schedopt")
    monkeypatch.setenv("SCHEDOPT_WORKERS", "3")
    s = Settings()
    assert s.instance_limits == {"pods.nodes": 5, "workflow.tasks": 7}
    assert s.database_url() == "postgresql+psycopg://u@db/schedopt" and s.workers == 3


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHEDOPT_WORKERS", "0")
    with pytest.raises(ValueError, match="workers"):
        Settings()
