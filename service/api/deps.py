"""Dependencies the routes share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.api.middleware import ARRIVED
from service.settings import Settings


def app_settings(request: Request) -> Settings:
    return request.app.state.settings


def arrival(request: Request) -> float:
    """The request's arrival (time.monotonic()), stamped by ArrivalMiddleware before the body was read."""
    return getattr(request.state, ARRIVED)


AppSettings = Annotated[Settings, Depends(app_settings)]
Arrival = Annotated[float, Depends(arrival)]
