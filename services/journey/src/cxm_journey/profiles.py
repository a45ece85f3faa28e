"""What journey keeps of customers from ingest (segment and value, for grouping and money at stake) and erasure."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common import newest
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many
from cxm_common.projections import project
from cxm_journey import contracts as c
from cxm_journey.projections import JOURNEY_READ_MODELS


async def on_customer_event(conn: AsyncConnection, event: Envelope) -> None:
    """Apply one `ingest.customer.*` event."""
    pg = await driver(conn)
    d = event.data
    tenant = event.tenant_id
    customer = uuid.UUID(d["customer_id"])
    if event.type == c.CUSTOMER_UPDATED:
        attributes = d.get("attributes") or {}
        changes: dict[str, Any] = {}
        if attributes.get("segment") is not None:
            changes["segment"] = str(attributes["segment"])[:128]
        value = attributes.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool):
            changes["value"] = float(value)
        if not changes:
            return
        row = await pg.fetchrow(
            "SELECT segment, value, versions::text AS v FROM profiles WHERE id = $1 FOR UPDATE", customer
        )
        current = {"segment": row["segment"], "value": row["value"]} if row else {}
        versions = orjson.loads(row["v"]) if row else {}
        kept, versions = newest.merge(current, versions, changes, event.aggregate_version)
        await pg.execute(
            "INSERT INTO profiles (id, tenant_id, segment, value, versions, updated_at) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (id) DO UPDATE SET segment = excluded.segment, "
            "value = excluded.value, versions = excluded.versions, updated_at = excluded.updated_at",
            customer, tenant, kept.get("segment"), kept.get("value"), orjson.dumps(versions).decode(), event.time,
        )  # fmt: skip
    elif event.type == c.CUSTOMER_MERGED:
        merged = [uuid.UUID(m) for m in d.get("merged_ids") or []]
        await pg.execute(
            "UPDATE profiles SET merged_into = $1 WHERE tenant_id = $2 AND id = ANY($3::uuid[])",
            customer,
            tenant,
            merged,
        )
    elif event.type == c.CUSTOMER_ERASED_INGEST:
        everyone = [customer, *(uuid.UUID(m) for m in d.get("merged_ids") or [])]
        # Kept as a tombstone: an older update of the customer arriving after the erasure must not bring it back.
        await pg.execute(
            "INSERT INTO profiles (id, tenant_id, segment, value, versions, updated_at) "
            "SELECT id, $1, NULL, NULL, $3::jsonb, $4 FROM unnest($2::uuid[]) AS t(id) "
            "ON CONFLICT (id) DO UPDATE SET segment = NULL, value = NULL, versions = excluded.versions",
            tenant, everyone, orjson.dumps(newest.reset({}, event.aggregate_version)).decode(), event.time,
        )  # fmt: skip
        erased = Envelope(
            type=c.CUSTOMER_ERASED, source=c.SOURCE, subject=str(customer), tenant_id=tenant,
            data={"customer_id": str(customer), "erasure_id": d.get("erasure_id"),
                  "merged_ids": [str(m) for m in everyone[1:]]},
            correlation_id=event.correlation_id, causation_id=event.id,
        )  # fmt: skip
        stored = await append_many(conn, [PendingAppend(f"customer-{customer}", [erased], ANY_VERSION)])
        await project(conn, [JOURNEY_READ_MODELS], stored)
