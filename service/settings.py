"""Service settings, read from the environment (prefix SCHEDOPT_) so one build runs anywhere."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.common import MAX_TIME_LIMIT_S

MIB = 1024 * 1024

# Top-level lists of an instance, by "<kind>.<field>"; a list not named here gets max_list_items.
DEFAULT_INSTANCE_LIMITS = {"pods.nodes": 20_000, "pods.pods": 200_000}


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SCHEDOPT_")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    sync_max_time_limit_s: float = Field(
        default=30.0,
        gt=0,
        le=MAX_TIME_LIMIT_S,
        description="Longest budget POST /v1/solve accepts; longer solves belong to the jobs API.",
    )
    max_body_bytes: int = Field(default=32 * MIB, ge=1, description="Largest body accepted; 413 above.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    # execution: a pool of solver processes
    workers: int = Field(default_factory=_cpu_count, ge=1, le=256, description="Solver worker processes.")
    grace_s: float = Field(
        default=0.03,
        ge=0,
        le=10,
        description="A worker that has not answered by time_limit_s + grace_s is killed and the best plan "
        "it reported is the answer. Measured on 2 cores: workers with a core answer 6-1000 ms before "
        "their limit (shipped instances, 0.2-1 s); a killed one is answered within ~10 ms, so answers "
        "leave the server by time_limit_s + 40 ms (benchmarks/service_load.py, Server-Timing), which "
        "leaves 10 ms of the 50 ms target for the network.",
    )
    cancel_grace_s: float = Field(
        default=1.0, gt=0, le=60, description="How long a cancelled solve may take to hand back its plan."
    )
    worker_nice: int = Field(
        default=0,
        ge=0,
        le=19,
        description="Run workers this much nicer than the web process, which keeps the deadlines. Off by "
        "default: measured on 2 cores, the kernel already wakes the mostly idle web process at once "
        "(the difference is within the load benchmark's noise), while nice workers lose their CPU to "
        "any other busy process on the host (a hung-worker test then had no heuristic plan in time).",
    )
    queue_max: int = Field(default=256, ge=1, description="Solves waiting for a worker; 503 above.")
    sync_min_slice_s: float = Field(
        default=0.02,
        ge=0,
        le=10,
        description="A synchronous solve that would reach a worker with less of its budget left is "
        "refused with 503 instead (not even the heuristics could run).",
    )

    # persistence
    db_path: Path = Field(default=Path("schedopt.sqlite"), description="SQLite file of the job store.")
    db_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the job store (e.g. postgresql+psycopg://...); overrides db_path.",
    )
    job_retention_s: float = Field(
        default=7 * 86400, gt=0, description="Finished jobs older than this are deleted."
    )
    prune_interval_s: float = Field(default=600, gt=0)
    instance_id: str = Field(
        default="local",
        min_length=1,
        max_length=64,
        description="Names this replica in the store: on start it re-runs the unfinished jobs it owns.",
    )

    # limits
    instance_limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_INSTANCE_LIMITS),
        description='Items per top-level instance list, by "<kind>.<field>" (JSON in the environment).',
    )
    max_list_items: int = Field(default=100_000, ge=1, description="Any other top-level instance list.")

    # security
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated; when set, /v1 and /k8s need a Bearer key."
    )
    api_key_prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["/v1", "/k8s"],
        description="Comma-separated path prefixes the keys guard. kube-scheduler cannot send an "
        "Authorization header to an extender: to keep keys on /v1 while the scheduler calls /k8s "
        "(reachable from it alone: NetworkPolicy, mTLS via tlsConfig), set this to /v1.",
    )

    # Kubernetes scheduler extender
    k8s_time_limit_s: float = Field(
        default=0.2, gt=0, le=30, description="Budget of the cluster-wide plan behind /k8s/prioritize."
    )
    k8s_pending_ttl_s: float = Field(
        default=60, gt=0, description="How long a pod seen in a filter/prioritize call counts as pending."
    )

    test_faults: bool = Field(
        default=False, description="Tests only: honour the X-Schedopt-Fault header (crash, hang a worker)."
    )

    @field_validator("api_keys", "api_key_prefixes", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.db_path}"


@lru_cache
def get_settings() -> Settings:
    """The environment's settings, read once per process."""
    return Settings()
