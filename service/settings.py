"""Service settings, read from the environment (prefix SCHEDOPT_) so one build runs anywhere."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.common import MAX_TIME_LIMIT_S

MIB = 1024 * 1024


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


@lru_cache
def get_settings() -> Settings:
    """The environment's settings, read once per process."""
    return Settings()
