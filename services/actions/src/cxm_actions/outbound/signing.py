"""Standard Webhooks signatures (standardwebhooks.com): what a receiver's library verifies.

`webhook-signature: v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}." + body))>`, the key being the base64-decoded
part of the `whsec_…` secret. The id stays the same across retries; the timestamp and signature are fresh each time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
USER_AGENT = "cxm-webhooks/1"


def generate_secret() -> str:
    """A fresh secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; ValueError when it is malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a signing secret is 'whsec_' followed by base64") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError("a signing secret decodes to 24 to 64 bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one message: `v1,<base64>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every header of a delivery: the three Standard Webhooks ones, the content type and our user agent."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
