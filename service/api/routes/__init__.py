"""One router per concern; app.py includes them all."""

from service.api.routes import health, jobs, k8s, solve

ROUTERS = (health.router, solve.router, jobs.router, k8s.router)

__all__ = ["ROUTERS"]
