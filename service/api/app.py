"""The FastAPI application: routes, error handlers and the middleware that runs before them."""

from __future__ import annotations

from fastapi import FastAPI

import service
from service.api import errors
from service.api.middleware import ArrivalMiddleware, BodyLimitMiddleware
from service.api.routes import ROUTERS
from service.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="schedopt",
        version=service.__version__,
        description="Scheduling optimizer: CP-SAT and ILP models solved within your budget, "
        "every plan checked, with its bound, gap and the baseline heuristic's result.",
    )
    app.state.settings = settings
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ArrivalMiddleware)  # added last, so it runs first
    return app
