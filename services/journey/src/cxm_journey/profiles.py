"""What journey keeps of customers from ingest (segment and value, for grouping and money at stake) and erasure."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncConnection

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
        segment = attributes.get("segment")
        value = attributes.get("value")
        if segment is None and value is None:
            return
        value = float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        await pg.execute(
            "INSERT INTO profiles (id, tenant_id, segment, value, updated_at) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (id) DO UPDATE SET segment = coalesce(excluded.segment, profiles.segment), "
            "value = coalesce(excluded.value, profiles.value), updated_at = excluded.updated_at",
            customer, tenant, str(segment)[:128] if segment is not None else None, value, event.time,
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
        await pg.execute("DELETE FROM profiles WHERE tenant_id = $1 AND id = ANY($2::uuid[])", tenant, everyone)
        erased = Envelope(
            type=c.CUSTOMER_ERASED, source=c.SOURCE, subject=str(customer), tenant_id=tenant,
            data={"customer_id": str(customer), "erasure_id": d.get("erasure_id"),
                  "merged_ids": [str(m) for m in everyone[1:]]},
            correlation_id=event.correlation_id, causation_id=event.id,
        )  # fmt: skip
        stored = await append_many(conn, [PendingAppend(f"customer-{customer}", [erased], ANY_VERSION)])
        await project(conn, [JOURNEY_READ_MODELS], stored)
