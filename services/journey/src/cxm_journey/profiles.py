"""What journey keeps of customers from ingest (segment and value, for grouping and money at stake) and erasure."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common import newest
from cxm_common.db import driver, json_rows
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many
from cxm_common.projections import project
from cxm_journey import contracts as c
from cxm_journey.projections import JOURNEY_READ_MODELS

_UPSERT_SQL = """
    INSERT INTO profiles (id, tenant_id, segment, value, versions, updated_at)
    SELECT (r->>0)::uuid, $1, r->>1, (r->>2)::double precision, r->3, (r->>4)::timestamptz
    FROM jsonb_array_elements($2::jsonb) AS t(r)
    ON CONFLICT (id) DO UPDATE SET segment = excluded.segment, value = excluded.value, versions = excluded.versions,
        updated_at = excluded.updated_at
"""


async def on_customer_events(conn: AsyncConnection, events: list[Envelope]) -> None:
    """Batch handler for `ingest.customer.*` events of one tenant: runs of updates in bulk, the rest one by one."""
    updates: list[Envelope] = []
    for event in events:
        if event.type == c.CUSTOMER_UPDATED:
            updates.append(event)
            continue
        await _apply_updates(conn, updates)  # before a merge or an erasure of the same customer, in order
        updates = []
        await _apply_other(conn, event)
    await _apply_updates(conn, updates)


def _changes(event: Envelope) -> dict[str, Any]:
    """The profile fields a `customer.updated` event sets (segment, value)."""
    attributes = event.data.get("attributes") or {}
    changes: dict[str, Any] = {}
    if attributes.get("segment") is not None:
        changes["segment"] = str(attributes["segment"])[:128]
    value = attributes.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        changes["value"] = float(value)
    return changes


async def _apply_updates(conn: AsyncConnection, events: list[Envelope]) -> None:
    """Merge `customer.updated` events of one tenant into their customers' profiles, newest version per field."""
    changed = [(uuid.UUID(e.data["customer_id"]), e, changes) for e in events if (changes := _changes(e))]
    if not changed:
        return
    pg = await driver(conn)
    rows = await pg.fetch(
        "SELECT id, segment, value, versions::text AS v FROM profiles WHERE id = ANY($1::uuid[]) ORDER BY id "
        "FOR UPDATE",
        sorted({customer for customer, _, _ in changed}),
    )  # fmt: skip
    state = {r["id"]: ({"segment": r["segment"], "value": r["value"]}, orjson.loads(r["v"])) for r in rows}
    when: dict[uuid.UUID, Any] = {}
    for customer, event, changes in changed:
        current, versions = state.get(customer, ({}, {}))
        state[customer] = newest.merge(current, versions, changes, event.aggregate_version)
        when[customer] = event.time
    await pg.execute(
        _UPSERT_SQL, changed[0][1].tenant_id,
        json_rows(
            (customer, kept.get("segment"), kept.get("value"), versions, when[customer])
            for customer, (kept, versions) in sorted(state.items()) if customer in when
        ),
    )  # fmt: skip


async def _apply_other(conn: AsyncConnection, event: Envelope) -> None:
    """Apply a `customer.merged` or `customer.erased` event."""
    pg = await driver(conn)
    d = event.data
    tenant = event.tenant_id
    customer = uuid.UUID(d["customer_id"])
    if event.type == c.CUSTOMER_MERGED:
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
