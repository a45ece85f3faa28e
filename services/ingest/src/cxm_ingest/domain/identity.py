"""Customer keys: normalised and turned into keyed digests, so no email or phone is stored in the clear."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid

KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(:[a-z0-9_]+)*$")
TENANT_KEY = "crm"  # the tenant's own key for a customer (`customer.id` in the API; adapters use the same kind)


def normalise(kind: str, value: str) -> str:
    """Normalise a key so that one person's key compares equal however a source formats it."""
    value = value.strip()
    if kind == "email":
        return value.lower()
    if kind == "phone":
        digits = re.sub(r"[^\d+]", "", value)
        return digits if not digits.startswith("00") else "+" + digits[2:]
    return value


def digest(secret: bytes, tenant: uuid.UUID, kind: str, value: str) -> str:
    """A keyed digest of one customer key within a tenant."""
    message = f"{tenant}|{kind}|{normalise(kind, value)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def candidate_kinds(key: str) -> list[str]:
    """The kinds a tenant's key may be stored under when an API names a customer: its own id, or email/phone."""
    kinds = [TENANT_KEY]
    if "@" in key:
        kinds.append("email")
    elif re.fullmatch(r"\+?[\d\s().-]{6,}", key):
        kinds.append("phone")
    return kinds
