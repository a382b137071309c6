"""ASGI middleware that runs before FastAPI reads the body: arrival time, request id and access log,
API keys, body size."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.logs import request_id
from service.metrics import Metrics

ARRIVED = "arrived"
CLIENT = "client"  # request.state.client: which API key called ("anonymous" without keys)


class ArrivalMiddleware:
    """Stamps request.state.arrived (time.monotonic()) first, so a solve's budget counts from arrival."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})[ARRIVED] = time.monotonic()
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 naming the limit for a body above max_bytes.

    A declared Content-Length is refused before anything is read; a body without one (chunked) is
    read here up to the limit and handed on whole, so no stream can get past the limit either.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                await self._too_large(f"{declared} bytes")(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(f"more than {self.max_bytes} bytes")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)

    def _too_large(self, size: str) -> JSONResponse:
        limit = f"the limit is {self.max_bytes} bytes (SCHEDOPT_MAX_BODY_BYTES)"
        return JSONResponse({"detail": f"request body is {size}; {limit}"}, status_code=413)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the buffered body once, then defers to the server (for disconnects)."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("schedopt.access")


class RequestContextMiddleware:
    """Gives every request an id (the caller's X-Request-ID when it is sane, else a new one), returns it
    as a header with a Server-Timing one, logs one line per request (never the body) and counts it by
    route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        rid = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        t0 = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers.append(REQUEST_ID_HEADER, rid)
                # W3C Server-Timing: from arrival to the answer, as the server saw it (clients and load
                # tests can tell the service's time from the network's and their own)
                arrived = scope.get("state", {}).get(ARRIVED, time.monotonic())
                headers.append("server-timing", f"total;dur={1000 * (time.monotonic() - arrived):.1f}")
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(unmatched)"
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status,
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(1000 * (time.perf_counter() - t0), 2),
                },
            )
            request_id.reset(token)


class ApiKeyMiddleware:
    """With keys configured, every path under the protected prefixes needs `Authorization: Bearer <key>`.

    Runs before the body is read, so an unauthenticated caller learns nothing (not even a 413 or 422).
    Keys are compared as SHA-256 digests with hmac.compare_digest, against every key without stopping
    at a match, so the time taken says nothing about any key.
    """

    def __init__(self, app: ASGIApp, keys: list[str], prefixes: tuple[str, ...] = ("/v1", "/k8s")) -> None:
        self.app = app
        self.digests = [hashlib.sha256(k.encode()).digest() for k in keys]
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.digests and self._protected(scope["path"]):
            client = self.client(Headers(scope=scope).get("authorization", ""))
            if client is None:
                response = JSONResponse(
                    {"detail": "missing or unknown API key: send Authorization: Bearer <key>"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="schedopt"'},
                )
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})[CLIENT] = client
        await self.app(scope, receive, send)

    def _protected(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)

    def client(self, authorization: str) -> str | None:
        """A stable, non-secret name of the caller's key (for idempotency scopes), or None."""
        scheme, _, token = authorization.partition(" ")
        digest = hashlib.sha256(token.strip().encode()).digest()
        matched: bytes | None = None
        for known in self.digests:
            if hmac.compare_digest(digest, known):
                matched = known
        if scheme.lower() != "bearer" or matched is None:
            return None
        return "key-" + matched.hex()[:16]
