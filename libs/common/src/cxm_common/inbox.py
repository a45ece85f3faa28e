"""The consumer inbox: an event id claimed in the same transaction as the consumer's effects."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_CLAIM_SQL = text(
    "INSERT INTO inbox (consumer, event_id) VALUES (:consumer, :event_id) ON CONFLICT DO NOTHING RETURNING 1"
)


async def claim(conn: AsyncConnection, consumer: str, event_id: uuid.UUID) -> bool:
    """Claim `event_id` for `consumer`; False means it was already applied and must change nothing."""
    result = await conn.execute(_CLAIM_SQL, {"consumer": consumer, "event_id": event_id})
    return result.first() is not None
