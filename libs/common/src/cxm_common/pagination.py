"""Opaque cursors for list endpoints: `limit` + `cursor` → `next_cursor`."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import HTTPException, Query

MAX_LIMIT = 500


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode where the next page starts."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    """Decode a cursor from a client; a tampered one is a 400."""
    if not cursor:
        return None
    try:
        value = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise HTTPException(400, "The cursor is not one this API returned.") from exc
    if not isinstance(value, dict):
        raise HTTPException(400, "The cursor is not one this API returned.")
    return value


def limit_param(default: int = 50) -> Any:
    """A `limit` query parameter between 1 and `MAX_LIMIT`."""
    return Query(default, ge=1, le=MAX_LIMIT, description=f"Page size, 1–{MAX_LIMIT}.")


def cursor_time(value: Any) -> datetime:
    """A cursor's time: ISO 8601 with a zone, within what Postgres stores once in UTC (ValueError otherwise)."""
    if not isinstance(value, str):
        raise ValueError("cursor time is not a string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("cursor time has no zone")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("cursor time out of range") from exc
    if not 1970 <= utc.year <= 9999:
        raise ValueError("cursor time out of range")
    return utc
