"""Read models of tenants and API keys, built from the gateway's own events."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.envelope import Envelope
from cxm_common.projections import Projection
from cxm_gateway.domain.events import KEY_CREATED, KEY_REVOKED, TENANT_CREATED


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Apply one gateway event to the tenants and api_keys tables."""
    if event.type == TENANT_CREATED:
        await conn.execute(
            text("INSERT INTO tenants (id, name, created_at) VALUES (:id, :name, :at) ON CONFLICT DO NOTHING"),
            {"id": event.tenant_id, "name": event.data["name"], "at": event.time},
        )
    elif event.type == KEY_CREATED:
        await conn.execute(
            text(
                "INSERT INTO api_keys (id, tenant_id, name, lookup, digest, scopes, created_at) "
                "VALUES (:id, :tenant, :name, :lookup, :digest, :scopes, :at) ON CONFLICT DO NOTHING"
            ),
            {
                "id": uuid.UUID(event.subject),
                "tenant": event.tenant_id,
                "name": event.data["name"],
                "lookup": event.data["lookup"],
                "digest": event.data["digest"],
                "scopes": event.data["scopes"],
                "at": event.time,
            },
        )
    elif event.type == KEY_REVOKED:
        await conn.execute(
            text("UPDATE api_keys SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL"),
            {"id": uuid.UUID(event.subject), "at": event.time},
        )


TENANTS_AND_KEYS = Projection(name="tenants_and_keys", tables=["api_keys", "tenants"], apply=apply)
