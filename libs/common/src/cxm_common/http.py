"""HTTP edges shared by every service: health, readiness, Prometheus metrics and request tracing."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxm_common.auth import INTERNAL_TOKEN_HEADER, InvalidInternalToken, Principal, verify_token_with_expiry
from cxm_common.observability import HTTP_LATENCY, span_from_traceparent
from cxm_common.problems import problem

ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]


def ops_router(readiness: ReadinessCheck) -> APIRouter:
    """Return `/healthz`, `/readyz` and `/metrics`."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Readiness: database, NATS and migrations")
    async def readyz() -> JSONResponse:
        report = await readiness()
        return JSONResponse(report, status_code=200 if report["ready"] else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


class ObservabilityMiddleware:
    """Pure ASGI middleware: a server span per request (continuing an incoming traceparent) and latency metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        traceparent = None
        for name, value in scope.get("headers", ()):
            if name == b"traceparent":
                traceparent = value.decode("latin-1")
                break

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope.get("method", "GET")
        # Named by the route template once routed: paths carry ids, keys and URL tokens that must not be exported.
        with span_from_traceparent(f"HTTP {method}", traceparent, SpanKind.SERVER) as span:
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                span.update_name(f"{method} {template}")
                span.set_attribute("http.route", template)
                span.set_attribute("http.response.status_code", status)
                HTTP_LATENCY.labels(self.service, method, template, f"{status // 100}xx").observe(
                    time.perf_counter() - started
                )


INTERNAL_TOKEN_HEADER_BYTES = INTERNAL_TOKEN_HEADER.encode()
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})


class InternalAuthMiddleware:
    """Refuses every request but the operational ones unless it carries a valid token from the gateway."""

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self.secret = secret
        # The gateway reuses a token for many requests: remember verified ones until they expire.
        self._verified: dict[str, tuple[Principal, float]] = {}

    def _verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None and cached[1] > now:
            return cached[0]
        principal, expires = verify_token_with_expiry(self.secret, token)
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        token = None
        for name, value in scope.get("headers", ()):
            if name == INTERNAL_TOKEN_HEADER_BYTES:
                token = value.decode("latin-1")
                break
        try:
            if token is None:
                raise InvalidInternalToken("missing internal token")
            principal = self._verify(token)
        except InvalidInternalToken:
            response = problem(401, "Requests must come through the gateway.")
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
