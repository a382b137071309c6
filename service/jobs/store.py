"""The job store: jobs, their requests, status, results and incumbent series, behind one interface.

SQLAlchemy Core with portable types and statements, so the SQLite file of the default setup (WAL,
synchronous=FULL: an accepted job survives a crash of the process or of the machine) can be replaced
by a PostgreSQL URL. Methods are synchronous; the service calls them from threads, writes from a
single one so that a job's rows are written in the order things happened.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


UNFINISHED = (JobStatus.queued, JobStatus.running)

metadata = MetaData()

jobs = Table(
    "jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # creation order; the list cursor
    Column("id", String(32), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("owner", String(64), nullable=False),  # the replica that runs it (Settings.instance_id)
    Column("idempotency", String(64), unique=True),  # sha256 of (client, Idempotency-Key)
    Column("request_hash", String(64), nullable=False),
    Column("request", LargeBinary, nullable=False),  # SolveRequest JSON
    Column("time_limit_s", Float, nullable=False),
    Column("created_at", Float, nullable=False),  # epoch seconds
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("attempts", Integer, nullable=False, default=0),
    Column("result", LargeBinary),  # SolveResult JSON
    Column("result_status", String(16)),
    Column("error", Text),
    Index("ix_jobs_status_kind", "status", "kind"),
    Index("ix_jobs_finished_at", "finished_at"),
)

events = Table(
    "job_events",
    metadata,
    Column("job_id", String(32), ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("point", Text, nullable=False),  # ProgressPoint JSON: t, objective, bound, source
)

probe = Table("store_probe", metadata, Column("id", Integer, primary_key=True), Column("at", Float))


@dataclass(frozen=True)
class JobRow:
    seq: int
    id: str
    kind: str
    status: JobStatus
    owner: str
    request_hash: str
    time_limit_s: float
    created_at: float
    started_at: float | None
    finished_at: float | None
    attempts: int
    result_status: str | None
    error: str | None
    request: bytes | None = None  # loaded on demand: it can be megabytes
    result: bytes | None = None

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


@dataclass(frozen=True)
class NewJob:
    id: str
    kind: str
    owner: str
    request: bytes
    request_hash: str
    time_limit_s: float
    idempotency: str | None = None


class IdempotencyClash(Exception):
    def __init__(self, existing: JobRow) -> None:
        super().__init__(existing.id)
        self.existing = existing


class BadCursor(ValueError):
    pass


_SUMMARY = [c for c in jobs.c if c.name not in ("request", "result", "idempotency")]


class JobStore:
    def __init__(self, url: str) -> None:
        self.url = url
        sqlite = url.startswith("sqlite")
        self.engine: Engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30} if sqlite else {},
            pool_pre_ping=not sqlite,
        )
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def setup(self) -> None:
        database = self.engine.url.database
        if self.engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # writes

    def create(self, job: NewJob) -> tuple[JobRow, bool]:
        """Insert a queued job; with an idempotency scope already taken, the existing job and False."""
        row = {
            "id": job.id,
            "kind": job.kind,
            "status": JobStatus.queued,
            "owner": job.owner,
            "idempotency": job.idempotency,
            "request_hash": job.request_hash,
            "request": job.request,
            "time_limit_s": job.time_limit_s,
            "created_at": time.time(),
            "attempts": 0,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(jobs).values(**row))
        except IntegrityError:
            if job.idempotency is None:
                raise
            existing = self.find_idempotent(job.idempotency)
            if existing is None:  # the clash was with something else
                raise
            return existing, False
        created = self.get(job.id)
        assert created is not None
        return created, True

    def mark_running(self, job_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(status=JobStatus.running, started_at=time.time(), attempts=jobs.c.attempts + 1)
            )

    def add_events(self, job_id: str, points: Sequence[tuple[int, str]]) -> None:
        if not points:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(events), [{"job_id": job_id, "seq": s, "point": p} for s, p in points])

    def finish(
        self,
        job_id: str,
        status: JobStatus,
        result: bytes | None = None,
        result_status: str | None = None,
        error: str | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id)
                .values(
                    status=status,
                    finished_at=time.time(),
                    result=result,
                    result_status=result_status,
                    error=error,
                )
            )

    def requeue_unfinished(self, owner: str) -> list[JobRow]:
        """Jobs this replica left queued or running when it stopped, back to queued, oldest first, with
        their requests; a partial incumbent series is dropped (the re-run starts a new one)."""
        with self.engine.begin() as conn:
            found = conn.execute(
                select(*_SUMMARY, jobs.c.request)
                .where(and_(jobs.c.owner == owner, jobs.c.status.in_(list(UNFINISHED))))
                .order_by(jobs.c.seq)
            ).all()
            ids = [r.id for r in found]
            if ids:
                conn.execute(delete(events).where(events.c.job_id.in_(ids)))
                conn.execute(
                    update(jobs).where(jobs.c.id.in_(ids)).values(status=JobStatus.queued, started_at=None)
                )
        return [_row(r, status=JobStatus.queued) for r in found]

    def prune(self, older_than: float) -> int:
        """Delete finished jobs (and their events) that finished before `older_than` (epoch seconds)."""
        with self.engine.begin() as conn:
            old = select(jobs.c.id).where(
                and_(jobs.c.finished_at.is_not(None), jobs.c.finished_at < older_than)
            )
            conn.execute(delete(events).where(events.c.job_id.in_(old)))
            return conn.execute(delete(jobs).where(jobs.c.id.in_(old))).rowcount or 0

    def ping(self) -> None:
        """A write that must succeed for the store to be usable (readiness)."""
        with self.engine.begin() as conn:
            if conn.execute(update(probe).where(probe.c.id == 1).values(at=time.time())).rowcount == 0:
                conn.execute(insert(probe).values(id=1, at=time.time()))

    # reads

    def get(self, job_id: str, *, with_result: bool = False, with_request: bool = False) -> JobRow | None:
        cols = [*_SUMMARY]
        if with_result:
            cols.append(jobs.c.result)
        if with_request:
            cols.append(jobs.c.request)
        with self.engine.connect() as conn:
            found = conn.execute(select(*cols).where(jobs.c.id == job_id)).first()
        return None if found is None else _row(found)

    def find_idempotent(self, scope: str) -> JobRow | None:
        with self.engine.connect() as conn:
            found = conn.execute(select(*_SUMMARY).where(jobs.c.idempotency == scope)).first()
        return None if found is None else _row(found)

    def events(self, job_id: str, after: int = 0) -> list[tuple[int, str]]:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(events.c.seq, events.c.point)
                .where(and_(events.c.job_id == job_id, events.c.seq > after))
                .order_by(events.c.seq)
            ).all()
        return [(r.seq, r.point) for r in found]

    def page(
        self,
        *,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> tuple[list[JobRow], str | None]:
        """Newest first; `cursor` is the previous page's next_cursor (opaque to callers)."""
        query = select(*_SUMMARY).order_by(jobs.c.seq.desc()).limit(limit + 1)
        if status is not None:
            query = query.where(jobs.c.status == status)
        if kind is not None:
            query = query.where(jobs.c.kind == kind)
        if cursor is not None:
            query = query.where(jobs.c.seq < decode_cursor(cursor))
        with self.engine.connect() as conn:
            found = [_row(r) for r in conn.execute(query).all()]
        more = len(found) > limit
        page = found[:limit]
        return page, encode_cursor(page[-1].seq) if more else None


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = text.partition(":")
        if prefix != "seq" or not value.isdigit():
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError):
        raise BadCursor(f"not a cursor this service issued: {cursor[:64]!r}") from None


def _row(found: Any, status: JobStatus | None = None) -> JobRow:
    data = found._asdict()
    data["status"] = status or JobStatus(data["status"])
    return JobRow(**data)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
