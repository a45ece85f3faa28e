"""Ingest's read models, applied in the same transaction as the events (and rebuilt by `cxm replay ingest`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import PII
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.projections import Projection
from cxm_ingest import contracts as c

_FEEDBACK_SQL = """
    INSERT INTO feedback (id, tenant_id, customer_id, channel, source, connection_id, external_id, nps, csat, ces,
                          touchpoint, occurred_at, received_at, metadata, pii)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb)
    ON CONFLICT (id) DO NOTHING
"""
_INTERACTION_SQL = """
    INSERT INTO interactions (id, tenant_id, customer_id, name, channel, source, external_id, occurred_at,
                              received_at, pii)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
    ON CONFLICT (id) DO NOTHING
"""


_CUSTOMER_SQL = """
    INSERT INTO customers (id, tenant_id, created_at, updated_at, attributes, pii)
    VALUES ($1, $2, $3, $3, $4::jsonb, $5::jsonb)
    ON CONFLICT (id) DO UPDATE SET
        updated_at = excluded.updated_at,
        attributes = customers.attributes || excluded.attributes,
        pii = CASE WHEN excluded.pii IS NULL THEN customers.pii
                   WHEN customers.pii IS NULL THEN excluded.pii
                   ELSE jsonb_set(customers.pii, '{fields}', (customers.pii -> 'fields') || (excluded.pii -> 'fields'))
              END
"""
_KEY_SQL = """
    INSERT INTO customer_keys (tenant_id, digest, kind, customer_id) VALUES ($1, $2, $3, $4)
    ON CONFLICT (tenant_id, digest) DO UPDATE SET customer_id = excluded.customer_id
    WHERE customer_keys.customer_id IN (SELECT id FROM customers WHERE erased_at IS NOT NULL)
"""


def _customer_row(event: Envelope) -> tuple[Any, ...]:
    d = event.data
    section = d.get(PII)
    return (
        uuid.UUID(d["customer_id"]), event.tenant_id, _time(event), orjson.dumps(d.get("attributes") or {}).decode(),
        orjson.dumps(section).decode() if section else None,
    )  # fmt: skip


def _key_rows(events: Sequence[Envelope]) -> list[tuple[Any, ...]]:
    # Sorted by digest: concurrent batches that claim the same new keys then lock them in the same order.
    return sorted(
        [
            (e.tenant_id, k["digest"], k["kind"], uuid.UUID(e.data["customer_id"]))
            for e in events
            for k in e.data.get("keys_added") or []
        ],
        key=lambda row: (str(row[0]), row[1]),
    )


def _feedback_row(event: Envelope) -> tuple[Any, ...]:
    d = event.data
    scores = d.get("scores") or {}
    return (
        uuid.UUID(d["feedback_id"]), event.tenant_id, _uuid(d.get("customer_id")), d["channel"], d["source"],
        _uuid(d.get("connection_id")), d.get("external_id"), scores.get("nps"), scores.get("csat"), scores.get("ces"),
        d.get("touchpoint"), event.time, event.recorded_at or event.time,
        "{}", _pii(d),
    )  # fmt: skip


def _interaction_row(event: Envelope) -> tuple[Any, ...]:
    d = event.data
    return (
        uuid.UUID(d["interaction_id"]), event.tenant_id, uuid.UUID(d["customer_id"]), d["name"], d.get("channel"),
        d["source"], d.get("external_id"), event.time, event.recorded_at or event.time, _pii(d),
    )  # fmt: skip


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Apply one ingest event to the read models."""
    pg = await driver(conn)
    d = event.data
    if event.type == c.FEEDBACK_RECEIVED:
        await pg.execute(_FEEDBACK_SQL, *_feedback_row(event))
    elif event.type == c.INTERACTION_RECORDED:
        await pg.execute(_INTERACTION_SQL, *_interaction_row(event))
    elif event.type == c.CUSTOMER_UPDATED:
        await pg.execute(_CUSTOMER_SQL, *_customer_row(event))
        keys = _key_rows([event])
        if keys:
            await pg.executemany(_KEY_SQL, keys)
    elif event.type == c.CUSTOMER_MERGED:
        survivor = uuid.UUID(d["customer_id"])
        merged = [uuid.UUID(m) for m in d["merged_ids"]]
        t = event.tenant_id
        await pg.execute(
            "UPDATE customers SET merged_into = $1 WHERE tenant_id = $3 AND id = ANY($2::uuid[])", survivor, merged, t
        )
        await pg.execute(
            "UPDATE customer_keys SET customer_id = $1 WHERE tenant_id = $3 AND customer_id = ANY($2::uuid[])",
            survivor, merged, t,
        )  # fmt: skip
        await pg.execute(
            "UPDATE feedback SET customer_id = $1 WHERE tenant_id = $3 AND customer_id = ANY($2::uuid[])",
            survivor, merged, t,
        )  # fmt: skip
        await pg.execute(
            "UPDATE interactions SET customer_id = $1 WHERE tenant_id = $3 AND customer_id = ANY($2::uuid[])",
            survivor, merged, t,
        )  # fmt: skip
    elif event.type == c.CUSTOMER_ERASED:
        customer = uuid.UUID(d["customer_id"])
        everyone = [customer, *(uuid.UUID(m) for m in d.get("merged_ids") or [])]
        # The sealed copies are already unreadable (the key is gone); the read models forget them as well.
        await pg.execute(
            "UPDATE customers SET pii = NULL, attributes = '{}', erased_at = $2 "
            "WHERE tenant_id = $3 AND id = ANY($1::uuid[])",
            everyone, _time(event), event.tenant_id,
        )  # fmt: skip
        t = event.tenant_id
        await pg.execute(
            "DELETE FROM customer_keys WHERE tenant_id = $2 AND customer_id = ANY($1::uuid[])", everyone, t
        )
        await pg.execute(
            "UPDATE feedback SET pii = NULL, metadata = '{}' WHERE tenant_id = $2 AND customer_id = ANY($1::uuid[])",
            everyone, t,
        )  # fmt: skip
        await pg.execute(
            "UPDATE interactions SET pii = NULL WHERE tenant_id = $2 AND customer_id = ANY($1::uuid[])", everyone, t
        )
        await pg.execute(
            """
            INSERT INTO erasures (id, tenant_id, customer_id, requested_at, services)
            VALUES ($1, $2, $3, $4, jsonb_build_object('ingest', $5::text))
            ON CONFLICT (id) DO UPDATE SET services = erasures.services || excluded.services
            """,
            uuid.UUID(d["erasure_id"]), event.tenant_id, customer, _time(event), _time(event).isoformat(),
        )  # fmt: skip
    elif event.type == c.ERASURE_CONFIRMED:
        await pg.execute(
            "UPDATE erasures SET services = services || jsonb_build_object($3::text, $4::text) "
            "WHERE tenant_id = $1 AND id = $2",
            event.tenant_id, uuid.UUID(d["erasure_id"]), d["service"], _time(event).isoformat(),
        )  # fmt: skip


async def apply_many(conn: AsyncConnection, events: Sequence[Envelope]) -> None:
    """Apply events in order, with one pipelined statement for each run of feedback or interactions."""
    pg = await driver(conn)
    run: list[Envelope] = []

    async def flush() -> None:
        if not run:
            return
        if run[0].type == c.FEEDBACK_RECEIVED:
            await pg.executemany(_FEEDBACK_SQL, [_feedback_row(e) for e in run])
        elif run[0].type == c.INTERACTION_RECORDED:
            await pg.executemany(_INTERACTION_SQL, [_interaction_row(e) for e in run])
        else:
            await pg.executemany(_CUSTOMER_SQL, [_customer_row(e) for e in run])
            keys = _key_rows(run)
            if keys:
                await pg.executemany(_KEY_SQL, keys)
        run.clear()

    for event in events:
        if event.type in (c.FEEDBACK_RECEIVED, c.INTERACTION_RECORDED, c.CUSTOMER_UPDATED):
            if run and run[0].type != event.type:
                await flush()
            run.append(event)
            continue
        await flush()
        await apply(conn, event)
    await flush()


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _pii(data: dict[str, object]) -> str | None:
    section = data.get(PII)
    return orjson.dumps(section).decode() if section else None


def _time(event: Envelope) -> datetime:
    return event.recorded_at or event.time


INGEST_READ_MODELS = Projection(
    name="ingest",
    tables=["feedback", "interactions", "customer_keys", "customers", "erasures"],
    apply=apply,
    apply_many=apply_many,
)
