"""The edge: request ids, header limits, authentication, rate limits, body limits and the proxy to services."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cxm_common.auth import INTERNAL_TOKEN_HEADER, WEBHOOK_SCOPE, Principal, issue_token
from cxm_common.db import DATABASE_ERRORS, is_transient_db_error
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_common.problems import problem
from cxm_gateway.authn import KeyCache
from cxm_gateway.config import Settings
from cxm_gateway.domain.admission import Admission, Lane, lane_kind
from cxm_gateway.domain.ratelimit import RateLimiter
from cxm_gateway.domain.routes import Route, route_for
from cxm_gateway.gate import Gate

log = logging.getLogger(__name__)

SHED = Counter("cxm_gateway_shed_total", "Requests refused because a service's lane was full", ["service", "lane"])
ADMISSION_LIMIT = Gauge("cxm_gateway_admission_limit", "In-flight limit of a service's lane", ["service", "lane"])

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Never forwarded: hop-by-hop headers, and anything a client might use to choose a tenant or forge trust.
_DROP_REQUEST = frozenset(
    {
        b"host", b"connection", b"keep-alive", b"proxy-authorization", b"proxy-connection", b"te", b"trailer",
        b"transfer-encoding", b"upgrade", b"content-length", b"forwarded", b"x-real-ip", b"x-request-id",
        INTERNAL_TOKEN_HEADER.encode(), b"traceparent", b"tracestate",
    }
)  # fmt: skip
_DROP_PREFIXES = (b"x-tenant", b"x-forwarded-", b"x-cxm-")
_DROP_RESPONSE = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "upgrade", "trailer", "te", "proxy-connection"}
)


class Upstream:
    """The pooled HTTP client to the services, created on first use inside the running loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The shared session (keep-alive connections, bounded pool, timeouts)."""
        if self._session is None or self._session.closed:
            s = self.settings
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=s.upstream_pool_size, keepalive_timeout=s.upstream_keepalive_s),
                timeout=aiohttp.ClientTimeout(total=s.upstream_timeout_s, sock_connect=s.upstream_connect_timeout_s),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            )
        return self._session

    async def close(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()


class Edge:
    """Pure ASGI middleware in front of the gateway's own routes; proxies service routes itself."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        upstream: Upstream,
        keys: KeyCache,
        stream_principal: Callable[[str], Principal | None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings
        self.upstream = upstream
        self.keys = keys
        self.stream_principal = stream_principal
        self.clock = clock
        self.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.admission = Admission(
            minimum=settings.admission_min_in_flight,
            maximum=settings.admission_max_in_flight,
            tolerance=settings.admission_tolerance,
        )
        self.gate = Gate(
            self.admission, max_queued=settings.admission_max_queued, patience_s=settings.admission_queue_wait_s
        )
        self.upstreams = {
            "ingest": settings.ingest_url.rstrip("/"),
            "insight": settings.insight_url.rstrip("/"),
            "journey": settings.journey_url.rstrip("/"),
            "actions": settings.actions_url.rstrip("/"),
        }
        self._tokens: dict[tuple[str | None, frozenset[str]], tuple[str, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        send = _with_request_id(send, request_id)
        try:
            await self._handle(scope, receive, send, request_id)
        except DATABASE_ERRORS as exc:
            # Only the key lookup can get here (the gateway's own routes answer their errors inside the app): an
            # unavailable database is a 503 for the client, not an exception that makes the server drop the line.
            if not is_transient_db_error(exc):
                raise
            log.warning("database unavailable on %s %s: %r", scope["method"], scope["path"], exc)
            await problem(503, "The database is unavailable; retry shortly.", headers={"Retry-After": "2"})(
                scope, receive, send
            )

    async def _handle(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        header_bytes = sum(len(k) + len(v) for k, v in scope["headers"])
        if header_bytes > self.settings.max_header_bytes:
            await problem(431, "Request headers are too large.")(scope, receive, send)
            return
        path: str = scope["path"]
        if any(segment in (".", "..") for segment in path.split("/")):
            await problem(400, "Dot segments are not allowed in paths.")(scope, receive, send)
            return
        route = route_for(path, self.settings.max_body_bytes, self.settings.max_batch_body_bytes)
        if route is None:
            if path.startswith("/v1/") and not path.startswith("/v1/admin/"):
                principal = await self._authenticate(scope) or self._stream_token(scope, path)
                if principal is None:
                    await _unauthorized()(scope, receive, send)
                    return
                scope.setdefault("state", {})["principal"] = principal
            if scope["method"] in ("POST", "PUT", "PATCH"):
                body = await _read_body(scope, receive, self.settings.max_body_bytes)
                if body is None:
                    await problem(413, f"The body exceeds {self.settings.max_body_bytes} bytes.")(scope, receive, send)
                    return
                receive = _replay(body)
            await self.app(scope, receive, send)
            return
        if route.webhook:
            principal = Principal(tenant_id=None, scopes=frozenset({WEBHOOK_SCOPE}), request_id=request_id)
        else:
            found = await self._authenticate(scope)
            if found is None:
                await _unauthorized()(scope, receive, send)
                return
            retry_after = self.limiter.check(found.key_id or "", self.clock())
            if retry_after:
                await problem(429, "Rate limit exceeded for this API key.", headers={"Retry-After": str(retry_after)})(
                    scope, receive, send
                )
                return
            principal = found
        body = await _read_body(scope, receive, route.body_limit)
        if body is None:
            await problem(413, f"The body exceeds {route.body_limit} bytes for this route.")(scope, receive, send)
            return
        kind = lane_kind(scope["method"], route.batch)
        entered = await self.gate.enter(route.service, kind)
        if entered is None:
            # Refused rather than queued for longer: waiting here would only add to the latency of every request.
            SHED.labels(route.service, kind).inc()
            retry_after = str(self.settings.admission_retry_after_s)
            await problem(503, f"The {route.service} service is at capacity; retry shortly.",
                          headers={"Retry-After": retry_after})(scope, receive, send)  # fmt: skip
            return
        lane, admitted = entered
        await self._forward(scope, send, route, principal, body, request_id, lane, admitted)
        ADMISSION_LIMIT.labels(route.service, kind).set(lane.limit)

    def _stream_token(self, scope: Scope, path: str) -> Principal | None:
        # Browsers' EventSource cannot send headers, so the stream also takes a short-lived `?token=`.
        if path != "/v1/stream":
            return None
        for part in scope.get("query_string", b"").decode("latin-1").split("&"):
            name, _, value = part.partition("=")
            if name == "token" and value:
                return self.stream_principal(value)
        return None

    async def _authenticate(self, scope: Scope) -> Principal | None:
        token = _bearer(scope)
        if token is None:
            return None
        return await self.keys.authenticate(token)

    def _internal_token(self, principal: Principal) -> str:
        cache_key = (str(principal.tenant_id) if principal.tenant_id else None, principal.scopes)
        cached = self._tokens.get(cache_key)
        now = self.clock()
        if cached and now - cached[1] < self.settings.internal_token_ttl_s / 2:
            return cached[0]
        token = issue_token(self.settings.internal_token_secret, principal, self.settings.internal_token_ttl_s)
        if len(self._tokens) > 10_000:
            self._tokens.clear()
        self._tokens[cache_key] = (token, now)
        return token

    async def _forward(
        self,
        scope: Scope,
        send: Send,
        route: Route,
        principal: Principal,
        body: bytes,
        request_id: str,
        lane: Lane,
        admitted: int,
    ) -> None:
        # The path as the client encoded it: decoding `%23` or `%2F` here would name another resource upstream.
        raw_path = scope.get("raw_path")
        url = self.upstreams[route.service] + (raw_path.decode("latin-1") if raw_path else scope["path"])
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = _forwarded_headers(scope, keep_authorization=route.webhook)
        headers.append((INTERNAL_TOKEN_HEADER, self._internal_token(principal)))
        headers.append(("x-request-id", request_id))
        traceparent = current_traceparent()
        if traceparent:
            headers.append(("traceparent", traceparent))
        started = cancelled = False
        began = time.monotonic()
        answered: float | None = None
        try:
            async with self.upstream.session().request(
                scope["method"], url, data=body or None, headers=headers, allow_redirects=False
            ) as response:
                answered = time.monotonic() - began
                self.gate.leave(lane, answered, admitted)
                started = True
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": [
                            (k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in response.headers.items()
                            if k.lower() not in _DROP_RESPONSE
                        ],
                    }
                )
                async for chunk in response.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, ConnectionError) as exc:
            if started:  # the status line has gone out: all we can do is end the response early
                log.warning("%s broke off a response to %s %s: %r", route.service, scope["method"], scope["path"], exc)
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            log.warning("%s unreachable for %s %s: %r", route.service, scope["method"], scope["path"], exc)
            await problem(
                503, f"The {route.service} service is unavailable; retry shortly.", headers={"Retry-After": "2"}
            )(scope, _no_receive, send)
        except TimeoutError:
            if started:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            log.warning("%s timed out for %s %s", route.service, scope["method"], scope["path"])
            await problem(504, f"The {route.service} service did not answer in time.", headers={"Retry-After": "5"})(
                scope, _no_receive, send
            )
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            if answered is None:
                # Unanswered: a failure or a timeout says the service struggles; a client that went away does not.
                if cancelled:
                    self.gate.release(lane)
                else:
                    self.gate.leave(lane, None, admitted)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if _REQUEST_ID_RE.match(candidate):
                return candidate
            break
    return uuid7().hex


def _with_request_id(send: Send, request_id: str) -> Send:
    encoded = request_id.encode()

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", encoded)]}
        await send(message)

    return wrapped


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _forwarded_headers(scope: Scope, *, keep_authorization: bool) -> list[tuple[str, str]]:
    headers = []
    for name, value in scope["headers"]:
        if name in _DROP_REQUEST or name.startswith(_DROP_PREFIXES):
            continue
        if name == b"authorization" and not keep_authorization:
            continue
        headers.append((name.decode("latin-1"), value.decode("latin-1")))
    return headers


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """Read the whole body, or return None as soon as it is known to exceed `limit` (413 before reading it all)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                if int(value) > limit:
                    return None
            except ValueError:
                return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await _no_receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _unauthorized() -> Any:
    return problem(401, "Send a valid API key: `Authorization: Bearer <key>`.", headers={"WWW-Authenticate": "Bearer"})


async def _no_receive() -> Message:
    await asyncio.sleep(0)
    return {"type": "http.disconnect"}
