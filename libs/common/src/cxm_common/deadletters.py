"""Dead letters: messages a consumer gave up on, kept queryable and redrivable in the service's schema."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common.ids import uuid7

DEAD = "dead"
REDRIVE_REQUESTED = "redrive_requested"
REDRIVEN = "redriven"
ERASED = "erased"
"""Its payload was about a customer since erased: emptied, never redriven."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message a consumer could not apply."""

    id: uuid.UUID
    consumer: str
    event_id: uuid.UUID | None
    subject: str
    tenant_id: uuid.UUID | None
    payload: str
    headers: dict[str, str]
    error: str
    deliveries: int
    status: str
    created_at: datetime
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly summary (without the payload)."""
        return {
            "id": str(self.id),
            "consumer": self.consumer,
            "event_id": str(self.event_id) if self.event_id else None,
            "subject": self.subject,
            "tenant_id": str(self.tenant_id) if self.tenant_id else None,
            "error": self.error,
            "deliveries": self.deliveries,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


_RECORD_SQL = text(
    """
    INSERT INTO dead_letters (id, consumer, event_id, subject, tenant_id, payload, headers, error, deliveries, status)
    VALUES (:id, :consumer, :event_id, :subject, :tenant_id, :payload, CAST(:headers AS jsonb), :error, :deliveries,
            'dead')
    ON CONFLICT (consumer, event_id) DO UPDATE
        SET error = excluded.error, deliveries = dead_letters.deliveries + excluded.deliveries,
            status = 'dead', updated_at = now()
    """
)


async def record(
    conn: AsyncConnection,
    *,
    consumer: str,
    event_id: uuid.UUID | None,
    subject: str,
    tenant_id: uuid.UUID | None,
    payload: bytes,
    headers: dict[str, str] | None,
    error: str,
    deliveries: int,
) -> None:
    """Store a message the consumer gives up on, in the caller's transaction."""
    await conn.execute(
        _RECORD_SQL,
        {
            "id": uuid7(),
            "consumer": consumer,
            "event_id": event_id,
            "subject": subject,
            "tenant_id": tenant_id,
            "payload": payload.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            "headers": orjson.dumps(headers or {}).decode(),
            "error": error[:4000],
            "deliveries": deliveries,
        },
    )


async def list_dead_letters(
    engine: AsyncEngine, *, consumer: str | None = None, status: str | None = DEAD, limit: int = 100
) -> list[DeadLetter]:
    """Return dead letters, newest first, optionally for one consumer or status."""
    where: list[str] = ["true"]
    params: dict[str, Any] = {"limit": limit}
    if consumer:
        where.append("consumer = :consumer")
        params["consumer"] = consumer
    if status:
        where.append("status = :status")
        params["status"] = status
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT * FROM dead_letters WHERE {' AND '.join(where)} ORDER BY created_at DESC LIMIT :limit"),
            params,
        )
        return [DeadLetter(**row._mapping) for row in rows]


async def request_redrive(
    engine: AsyncEngine, *, ids: list[uuid.UUID] | None = None, consumer: str | None = None
) -> int:
    """Mark dead letters for a redrive by their consumer's runner; return how many were marked."""
    where: list[str] = ["status = 'dead'"]
    params: dict[str, Any] = {}
    if ids:
        where.append("id = ANY(CAST(:ids AS uuid[]))")
        params["ids"] = ids
    if consumer:
        where.append("consumer = :consumer")
        params["consumer"] = consumer
    async with engine.begin() as conn:
        result = await conn.execute(
            text(
                f"UPDATE dead_letters SET status = 'redrive_requested', updated_at = now() WHERE {' AND '.join(where)}"
            ),
            params,
        )
        return result.rowcount or 0


async def count_dead(conn: AsyncConnection, consumer: str) -> int:
    """Return how many dead letters of `consumer` await a redrive."""
    value = await conn.scalar(
        text("SELECT count(*) FROM dead_letters WHERE consumer = :consumer AND status = 'dead'"), {"consumer": consumer}
    )
    return int(value or 0)


async def erase_about(conn: AsyncConnection, tenant_id: uuid.UUID, subject: uuid.UUID) -> int:
    """Empty the payloads of a tenant's dead letters that mention `subject` (in the caller's transaction)."""
    # Payloads are kept as published, with personal data in the clear: an erasure must not leave them behind.
    result = await conn.execute(
        text(
            "UPDATE dead_letters SET payload = '', headers = '{}', status = :erased, updated_at = now() "
            "WHERE tenant_id = :tenant AND status <> :erased AND strpos(payload, :subject) > 0"
        ),
        {"erased": ERASED, "tenant": tenant_id, "subject": str(subject)},
    )
    return result.rowcount or 0
