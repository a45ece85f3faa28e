"""Subscriptions as events (create, disable, delete), their read model, and the queries of the API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions.outbound import contracts as c
from cxm_actions.outbound.signing import generate_secret
from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, append
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_common.projections import Projection, project

MAX_PER_TENANT = 100
ACTIVE, DISABLED, DELETED = "active", "disabled", "deleted"
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")
_COLUMNS = "id, url, event_types, description, status, disabled_reason, created_at, updated_at"
_DELIVERY_COLUMNS = (
    "id, event_id, event_type, status, attempts, last_status_code, last_error, last_attempt_at, "
    "CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, delivered_at, created_at"
)


class NotFound(LookupError):
    """No such subscription (or delivery) for this tenant."""


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Projection of subscription events into the `subscriptions` table."""
    pg = await driver(conn)
    d = event.data
    sid = uuid.UUID(d["subscription_id"]) if "subscription_id" in d else None
    if event.type == c.SUBSCRIPTION_CREATED:
        await pg.execute(
            "INSERT INTO subscriptions (id, tenant_id, url, event_types, description, secret, status, created_at, "
            "updated_at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'active', $7, $7) ON CONFLICT (id) DO NOTHING",
            sid, event.tenant_id, d["url"], list(d["event_types"]), d.get("description"),
            orjson.dumps(d[c.SECRET]).decode(), event.time,
        )  # fmt: skip
    elif event.type == c.SUBSCRIPTION_DISABLED:
        await pg.execute(
            "UPDATE subscriptions SET status = 'disabled', disabled_reason = $2, updated_at = $3 "
            "WHERE id = $1 AND tenant_id = $4 AND status = 'active'",
            sid, d.get("reason"), event.time, event.tenant_id,
        )  # fmt: skip
    elif event.type == c.SUBSCRIPTION_DELETED:
        await pg.execute(
            "UPDATE subscriptions SET status = 'deleted', updated_at = $2 WHERE id = $1 AND tenant_id = $3",
            sid, event.time, event.tenant_id,
        )  # fmt: skip


PROJECTION = Projection(name="outbound_subscriptions", tables=["subscriptions"], apply=apply)


async def _append(conn: AsyncConnection, tenant: uuid.UUID, sid: uuid.UUID, type_: str, data: dict[str, Any]) -> None:
    event = Envelope(type_, c.SOURCE, c.stream_id(sid), tenant, data, traceparent=current_traceparent())
    stored = await append(conn, c.stream_id(sid), [event], ANY_VERSION)
    await project(conn, [PROJECTION], stored)


async def create(
    conn: AsyncConnection,
    keyring: KeyRing,
    tenant: uuid.UUID,
    url: str,
    event_types: Sequence[str],
    description: str | None,
) -> tuple[dict[str, Any], str]:
    """Record a new subscription (its secret sealed); return it and the secret, which is shown this once."""
    pg = await driver(conn)
    # Serialises creations of one tenant, so the cap holds under concurrent requests.
    await pg.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"outbound-subscriptions:{tenant}")
    count = await pg.fetchval("SELECT count(*) FROM subscriptions WHERE tenant_id = $1 AND status <> 'deleted'", tenant)
    if count >= MAX_PER_TENANT:
        raise ValueError(f"a tenant has at most {MAX_PER_TENANT} subscriptions; delete one first")
    sid = uuid7()
    secret = generate_secret()
    sealed = await keyring.seal_pii(conn, tenant, sid, {"secret": secret})
    data = {
        "subscription_id": str(sid), "url": url, "event_types": list(event_types), "description": description,
        c.SECRET: sealed,
    }  # fmt: skip
    await _append(conn, tenant, sid, c.SUBSCRIPTION_CREATED, data)
    row = await get_subscription(conn, tenant, sid)
    assert row is not None
    return row, secret


async def _lock(conn: AsyncConnection, tenant: uuid.UUID, sid: uuid.UUID) -> str | None:
    return await (await driver(conn)).fetchval(  # type: ignore[no-any-return]
        "SELECT status FROM subscriptions WHERE id = $1 AND tenant_id = $2 FOR UPDATE", sid, tenant
    )


async def delete(conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, sid: uuid.UUID) -> None:
    """Delete a subscription: nothing more is sent, pending deliveries are cancelled, its secret destroyed."""
    status = await _lock(conn, tenant, sid)
    if status is None or status == DELETED:
        raise NotFound(f"No subscription {sid}.")
    await _append(conn, tenant, sid, c.SUBSCRIPTION_DELETED, {"subscription_id": str(sid)})
    await cancel_pending(conn, sid)
    await keyring.destroy(conn, sid)


async def disable(conn: AsyncConnection, tenant: uuid.UUID, sid: uuid.UUID, reason: str) -> bool:
    """Disable an active subscription (its endpoint is gone); False when it was not active any more."""
    if await _lock(conn, tenant, sid) != ACTIVE:
        return False
    await _append(conn, tenant, sid, c.SUBSCRIPTION_DISABLED, {"subscription_id": str(sid), "reason": reason})
    await cancel_pending(conn, sid)
    return True


async def cancel_pending(conn: AsyncConnection, sid: uuid.UUID) -> None:
    """Cancel the deliveries still waiting for a subscription (their payloads are dropped)."""
    await (await driver(conn)).execute(
        "UPDATE deliveries SET status = 'cancelled', payload = NULL WHERE subscription_id = $1 AND status = 'pending'",
        sid,
    )


def _subscription(row: Any) -> dict[str, Any]:
    return {**dict(row), "event_types": list(row["event_types"])}


async def list_subscriptions(conn: AsyncConnection, tenant: uuid.UUID) -> list[dict[str, Any]]:
    """A tenant's subscriptions (active and disabled), oldest first."""
    rows = await (await driver(conn)).fetch(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant_id = $1 AND status <> 'deleted' ORDER BY created_at, id",
        tenant,
    )
    return [_subscription(r) for r in rows]


async def get_subscription(conn: AsyncConnection, tenant: uuid.UUID, sid: uuid.UUID) -> dict[str, Any] | None:
    """One subscription of a tenant, unless deleted."""
    row = await (await driver(conn)).fetchrow(
        f"SELECT {_COLUMNS} FROM subscriptions WHERE id = $1 AND tenant_id = $2 AND status <> 'deleted'", sid, tenant
    )
    return _subscription(row) if row is not None else None


async def list_deliveries(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    sid: uuid.UUID,
    *,
    status: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of a subscription's delivery log, newest first, and whether more follow."""
    if await get_subscription(conn, tenant, sid) is None:
        raise NotFound(f"No subscription {sid}.")
    rows = await (await driver(conn)).fetch(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries "
        "WHERE subscription_id = $1 AND tenant_id = $2 AND ($3::text IS NULL OR status = $3) "
        "AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5)) "
        "ORDER BY created_at DESC, id DESC LIMIT $6",
        sid, tenant, status, after[0] if after else None, after[1] if after else None, limit + 1,
    )  # fmt: skip
    return [dict(r) for r in rows[:limit]], len(rows) > limit


async def get_delivery(
    conn: AsyncConnection, tenant: uuid.UUID, sid: uuid.UUID, delivery_id: uuid.UUID
) -> dict[str, Any] | None:
    """One delivery of a subscription with every attempt made."""
    if await get_subscription(conn, tenant, sid) is None:
        return None
    pg = await driver(conn)
    row = await pg.fetchrow(
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries WHERE id = $1 AND subscription_id = $2 AND tenant_id = $3",
        delivery_id, sid, tenant,
    )  # fmt: skip
    if row is None:
        return None
    attempts = await pg.fetch(
        "SELECT attempt, attempted_at, status_code, error, duration_ms FROM delivery_attempts "
        "WHERE delivery_id = $1 AND tenant_id = $2 ORDER BY attempt",
        delivery_id, tenant,
    )  # fmt: skip
    return {**dict(row), "attempt_log": [dict(a) for a in attempts]}
