"""Liveness, with what this build can solve."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel

import service
from solver import REGISTRY

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    kinds: list[str]


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(version=service.__version__, kinds=sorted(REGISTRY))
