"""One router per concern; app.py includes them all."""

from service.api.routes import health, solve

ROUTERS = (health.router, solve.router)

__all__ = ["ROUTERS"]
