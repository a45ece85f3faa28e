"""API keys: random 256-bit secrets with a visible prefix, stored only as SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from cxm_common.auth import SCOPES

KEY_PREFIX = "cxm"
_KEY_RE = re.compile(r"^cxm_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")


class InvalidScopes(ValueError):
    """Scopes that are not in the catalogue."""


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key as shown once at creation: the full secret, its lookup prefix and its hash."""

    token: str
    lookup: str
    digest: str


def generate_key() -> NewKey:
    """Create a new key `cxm_<lookup>_<secret>`: a 60-bit public lookup id and a 256-bit secret."""
    lookup = base64.b32encode(secrets.token_bytes(10)).decode().lower().rstrip("=")[:12]
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    token = f"{KEY_PREFIX}_{lookup}_{secret}"
    return NewKey(token=token, lookup=lookup, digest=digest_of(token))


def digest_of(token: str) -> str:
    """SHA-256 of a key, hex; a slow password hash would cost more CPU than the request it guards."""
    return hashlib.sha256(token.encode()).hexdigest()


def parse_lookup(token: str) -> str | None:
    """Return the lookup id of a well-formed key, or None."""
    match = _KEY_RE.match(token)
    return match.group(1) if match else None


def matches(token: str, digest: str) -> bool:
    """Compare a presented key with a stored digest in constant time."""
    return hmac.compare_digest(digest_of(token), digest)


def check_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return the scopes sorted and de-duplicated, or raise `InvalidScopes` naming the unknown ones."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidScopes(f"unknown scopes: {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    if not scopes:
        raise InvalidScopes("a key needs at least one scope")
    return tuple(sorted(set(scopes)))
