"""The trust boundary: the gateway signs a short-lived internal token; every service verifies it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import jwt
from fastapi import Request

SCOPES = (
    "ingest:read",
    "ingest:write",
    "insights:read",
    "insights:write",
    "journeys:read",
    "actions:read",
    "actions:write",
    "admin",
)
INTERNAL_TOKEN_HEADER = "x-cxm-internal-token"
WEBHOOK_SCOPE = "webhook"
_ISSUER = "cxm-gateway"
_AUDIENCE = "cxm-services"
_ALGORITHM = "HS256"


class InvalidInternalToken(Exception):
    """The request did not come through the gateway with a valid, unexpired token."""


class MissingScope(Exception):
    """The caller's key lacks the scope this operation needs."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"this operation needs the '{scope}' scope")
        self.scope = scope


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant and scopes of the API key, or the gateway itself for a webhook."""

    tenant_id: uuid.UUID | None
    scopes: frozenset[str]
    key_id: str | None = None
    request_id: str | None = None

    def require(self, scope: str) -> uuid.UUID:
        """Return the tenant if the caller holds `scope`, else raise `MissingScope`."""
        if scope not in self.scopes or self.tenant_id is None:
            raise MissingScope(scope)
        return self.tenant_id


def issue_token(secret: str, principal: Principal, ttl_s: float = 60.0, *, audience: str = _AUDIENCE) -> str:
    """Sign `principal` for the services (HS256, expires in `ttl_s`); another audience makes another kind of token."""
    if not secret:
        raise InvalidInternalToken("no internal token secret configured")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": _ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + int(ttl_s),
        "tid": str(principal.tenant_id) if principal.tenant_id else None,
        "scp": sorted(principal.scopes),
        "kid": principal.key_id,
        "rid": principal.request_id,
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_token(secret: str, token: str, *, audience: str = _AUDIENCE) -> Principal:
    """Return the principal a valid token for `audience` carries, or raise `InvalidInternalToken`."""
    return verify_token_with_expiry(secret, token, audience=audience)[0]


def verify_token_with_expiry(secret: str, token: str, *, audience: str = _AUDIENCE) -> tuple[Principal, float]:
    """Like `verify_token`, with the token's expiry (Unix time)."""
    if not secret:
        raise InvalidInternalToken("no internal token secret configured: every request is refused")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[_ALGORITHM],
            audience=audience,
            issuer=_ISSUER,
            options={"require": ["exp", "iat", "iss", "aud"]},
            leeway=5,
        )
        tenant = uuid.UUID(claims["tid"]) if claims.get("tid") else None
        scopes = frozenset(str(s) for s in claims.get("scp") or ())
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInternalToken(str(exc)) from exc
    principal = Principal(tenant_id=tenant, scopes=scopes, key_id=claims.get("kid"), request_id=claims.get("rid"))
    return principal, float(claims["exp"])


def principal_of(request: Request) -> Principal:
    """The verified principal of a request (set by the service's auth middleware)."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise InvalidInternalToken("request reached a route without passing the internal token check")
    return principal


def scoped(scope: str) -> Callable[[Request], Coroutine[Any, Any, uuid.UUID]]:
    """A FastAPI dependency that returns the caller's tenant id if its key holds `scope` (else 403)."""

    async def dependency(request: Request) -> uuid.UUID:
        return principal_of(request).require(scope)

    dependency.__name__ = f"requires_{scope.replace(':', '_')}"
    dependency.cxm_scope = scope  # type: ignore[attr-defined]  # read by StrictJsonRoute for the API document
    return dependency


def webhook_call(request: Request) -> Principal:
    """A FastAPI dependency for webhook routes: the gateway forwarded it; the source's signature is checked next."""
    principal = principal_of(request)
    if WEBHOOK_SCOPE not in principal.scopes:
        raise MissingScope(WEBHOOK_SCOPE)
    return principal
