"""The job store on SQLite (WAL), and that its schema and statements are portable to PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import create_mock_engine
from sqlalchemy.dialects import postgresql

from service.jobs.store import BadCursor, JobStatus, JobStore, NewJob, jobs, metadata


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    s = JobStore(f"sqlite:///{tmp_path / 'sub' / 'jobs.sqlite'}")
    s.setup()
    return s


def new(job_id: str, *, owner: str = "local", scope: str | None = None, body: bytes = b"{}") -> NewJob:
    return NewJob(job_id, "pods", owner, body, "h-" + body.decode(), 1.0, scope)


def test_sqlite_runs_in_wal_mode_and_creates_its_folder(store: JobStore, tmp_path: Path) -> None:
    path = tmp_path / "sub" / "jobs.sqlite"
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_job_round_trip(store: JobStore) -> None:
    row, created = store.create(new("a" * 32, body=b'{"kind": "pods"}'))
    assert created and row.status == JobStatus.queued and row.attempts == 0
    store.mark_running(row.id)
    store.add_events(row.id, [(1, '{"t": 0.1}'), (2, '{"t": 0.2}')])
    store.finish(row.id, JobStatus.succeeded, b'{"status": "optimal"}', "optimal")
    done = store.get(row.id, with_result=True, with_request=True)
    assert done is not None and done.finished
    assert (done.status, done.attempts, done.result_status) == (JobStatus.succeeded, 1, "optimal")
    assert done.result == b'{"status": "optimal"}' and done.request == b'{"kind": "pods"}'
    assert done.started_at is not None and done.finished_at is not None
    assert store.events(row.id) == [(1, '{"t": 0.1}'), (2, '{"t": 0.2}')]
    assert store.events(row.id, after=1) == [(2, '{"t": 0.2}')]


def test_an_idempotency_scope_is_taken_once(store: JobStore) -> None:
    first, created = store.create(new("a" * 32, scope="s1"))
    again, created_again = store.create(new("b" * 32, scope="s1"))
    assert created and not created_again and again.id == first.id
    assert store.get("b" * 32) is None
    assert store.find_idempotent("s1") == first


def test_unfinished_jobs_of_this_owner_are_requeued_without_their_partial_series(store: JobStore) -> None:
    store.create(new("q" * 32))
    store.create(new("r" * 32))
    store.mark_running("r" * 32)
    store.add_events("r" * 32, [(1, "{}")])
    store.create(new("d" * 32))
    store.finish("d" * 32, JobStatus.succeeded, b"{}", "optimal")
    store.create(new("o" * 32, owner="other-replica"))
    again = store.requeue_unfinished("local")
    assert [r.id for r in again] == ["q" * 32, "r" * 32]
    assert all(r.status == JobStatus.queued and r.request == b"{}" for r in again)
    running = store.get("r" * 32)
    assert running is not None and running.status == JobStatus.queued and running.attempts == 1
    assert store.events("r" * 32) == []
    other = store.get("o" * 32)
    assert other is not None and other.status == JobStatus.queued  # untouched: another replica's


def test_prune_deletes_old_finished_jobs_only(store: JobStore) -> None:
    store.create(new("o" * 32))
    store.add_events("o" * 32, [(1, "{}")])
    store.finish("o" * 32, JobStatus.failed, error='{"detail": "x"}')
    store.create(new("u" * 32))
    assert store.prune(older_than=time.time() - 3600) == 0
    assert store.prune(older_than=time.time() + 1) == 1
    assert store.get("o" * 32) is None and store.events("o" * 32) == []
    assert store.get("u" * 32) is not None


def test_pages_newest_first_with_filters_and_a_cursor(store: JobStore) -> None:
    ids = [f"{i:032d}" for i in range(5)]
    for job_id in ids:
        store.create(new(job_id))
    store.finish(ids[1], JobStatus.cancelled)
    page, cursor = store.page(limit=2)
    assert [r.id for r in page] == ids[:2:-1][:2] and cursor is not None
    rest, end = store.page(limit=10, cursor=cursor)
    assert [r.id for r in rest] == [ids[2], ids[1], ids[0]] and end is None
    cancelled, _ = store.page(status="cancelled")
    assert [r.id for r in cancelled] == [ids[1]]
    assert store.page(kind="workflow")[0] == []
    with pytest.raises(BadCursor):
        store.page(cursor="not-a-cursor")


def test_the_schema_compiles_for_postgresql() -> None:
    ddl: list[str] = []
    engine = create_mock_engine(
        "postgresql://", lambda sql, *a, **k: ddl.append(str(sql.compile(dialect=engine.dialect)))
    )
    metadata.create_all(engine, checkfirst=False)
    text = "\n".join(ddl)
    assert "CREATE TABLE jobs" in text and "BYTEA" in text and "SERIAL" in text
    statement = jobs.select().where(jobs.c.status.in_(["queued", "running"])).order_by(jobs.c.seq.desc())
    assert "ORDER BY jobs.seq DESC" in str(statement.compile(dialect=postgresql.dialect()))
