"""What insight keeps of customers (their attributes, for grouping) and how it honours an erasure."""

from __future__ import annotations

import uuid

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common import newest
from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many
from cxm_common.projections import project
from cxm_insight import contracts as c
from cxm_insight.projections import INSIGHT_READ_MODELS

# Attributes insight groups by; names and emails never leave ingest.
KEPT = ("segment", "plan", "region", "account", "agent", "team", "value", "tier")


class Customers:
    """Consumer handlers for ingest's customer events."""

    def __init__(self, keyring: KeyRing) -> None:
        self.keyring = keyring

    async def on_event(self, conn: AsyncConnection, event: Envelope) -> None:
        """Apply one `ingest.customer.*` event."""
        pg = await driver(conn)
        d = event.data
        tenant = event.tenant_id
        customer = uuid.UUID(d["customer_id"])
        if event.type == c.INGEST_CUSTOMER_UPDATED:
            changes = {k: v for k, v in (d.get("attributes") or {}).items() if k in KEPT}
            row = await pg.fetchrow(
                "SELECT attributes::text AS a, versions::text AS v FROM customers WHERE id = $1 FOR UPDATE", customer
            )
            current, versions = (orjson.loads(row["a"]), orjson.loads(row["v"])) if row else ({}, {})
            attributes, versions = newest.merge(current, versions, changes, event.aggregate_version)
            await pg.execute(
                "INSERT INTO customers (id, tenant_id, attributes, versions, updated_at) "
                "VALUES ($1, $2, $3::jsonb, $4::jsonb, $5) ON CONFLICT (id) DO UPDATE SET "
                "attributes = excluded.attributes, versions = excluded.versions, updated_at = excluded.updated_at",
                customer, tenant, orjson.dumps(attributes).decode(), orjson.dumps(versions).decode(), event.time,
            )  # fmt: skip
        elif event.type == c.INGEST_CUSTOMER_MERGED:
            merged = [uuid.UUID(m) for m in d.get("merged_ids") or []]
            await pg.execute(
                "UPDATE customers SET merged_into = $1 WHERE tenant_id = $2 AND id = ANY($3::uuid[])",
                customer, tenant, merged,
            )  # fmt: skip
        elif event.type == c.INGEST_CUSTOMER_ERASED:
            await self.erase(conn, event)

    async def erase(self, conn: AsyncConnection, event: Envelope) -> None:
        """Destroy the customer's keys (sealed texts become unreadable) and record insight's part as done."""
        d = event.data
        everyone = [uuid.UUID(d["customer_id"]), *(uuid.UUID(m) for m in d.get("merged_ids") or [])]
        for subject in everyone:
            await self.keyring.destroy(conn, subject, event.tenant_id)
        # Kept as a tombstone: an older update of the customer arriving after the erasure must not bring it back.
        await (await driver(conn)).execute(
            "INSERT INTO customers (id, tenant_id, attributes, versions, updated_at) "
            "SELECT id, $1, '{}', $3::jsonb, $4 FROM unnest($2::uuid[]) AS t(id) "
            "ON CONFLICT (id) DO UPDATE SET attributes = '{}', versions = excluded.versions",
            event.tenant_id, everyone, orjson.dumps(newest.reset({}, event.aggregate_version)).decode(), event.time,
        )  # fmt: skip
        erased = Envelope(
            type=c.CUSTOMER_ERASED,
            source=c.SOURCE,
            subject=d["customer_id"],
            tenant_id=event.tenant_id,
            data={
                "customer_id": d["customer_id"],
                "erasure_id": d.get("erasure_id"),
                "merged_ids": [str(m) for m in everyone[1:]],
            },
            correlation_id=event.correlation_id,
            causation_id=event.id,
        )
        stored = await append_many(conn, [PendingAppend(f"customer-{d['customer_id']}", [erased], ANY_VERSION)])
        await project(conn, [INSIGHT_READ_MODELS], stored)
