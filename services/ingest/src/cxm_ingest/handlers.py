"""Ingest's commands: one transaction each — resolve customers, append events, update read models."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common.crypto import KeyRing
from cxm_common.db import driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, PendingAppend, append_many, load, retry_on_conflict
from cxm_common.ids import deterministic_uuid, uuid7
from cxm_common.observability import current_traceparent
from cxm_common.projections import project
from cxm_ingest import contracts as c
from cxm_ingest.domain.records import (
    CustomerRecord,
    CustomerRef,
    FeedbackRecord,
    InteractionRecord,
    Record,
    check_record,
)
from cxm_ingest.identity import IdentityResolver, claim_keys
from cxm_ingest.projections import INGEST_READ_MODELS

NAMESPACE = uuid.UUID("6f1f4f5e-3c1a-4d43-9b7e-2b1b0c9a7e10")
RAW_LIMIT = 64 * 1024


@dataclass
class IngestResult:
    """What one command stored: ids in input order, and how many were duplicates."""

    ids: list[uuid.UUID | None] = field(default_factory=list)
    accepted: int = 0
    duplicates: int = 0
    customers: list[uuid.UUID | None] = field(default_factory=list)
    duplicate: list[bool] = field(default_factory=list)


def _event(
    type_: str,
    tenant: uuid.UUID,
    subject: uuid.UUID,
    data: dict[str, Any],
    time: datetime | None,
    traceparent: str | None = None,
) -> Envelope:
    return Envelope(
        type=type_, source=c.SOURCE, subject=str(subject), tenant_id=tenant, data=data,
        time=time or datetime.now(UTC), traceparent=traceparent or current_traceparent(),
    )  # fmt: skip


def record_id(tenant: uuid.UUID, kind: str, source: str, external_id: str | None) -> uuid.UUID:
    """A feedback or interaction id: derived from the source's own id when there is one, so a replay is a no-op."""
    if external_id:
        return deterministic_uuid(NAMESPACE, str(tenant), kind, source, external_id)
    return uuid7()


class Ingest:
    """Stores canonical records from any edge (JSON API, webhook, import)."""

    def __init__(self, engine: AsyncEngine, keyring: KeyRing, resolver: IdentityResolver) -> None:
        self.engine = engine
        self.keyring = keyring
        self.resolver = resolver

    async def store(
        self,
        tenant: uuid.UUID,
        records: Sequence[Record],
        *,
        connection_id: uuid.UUID | None = None,
        raw: bytes | None = None,
        before_commit: Any = None,
        traceparents: Sequence[str | None] | None = None,
    ) -> IngestResult:
        """Store records in one transaction (retried on a concurrent conflict); duplicates change nothing."""

        async def once() -> IngestResult:
            async with self.engine.begin() as conn:
                await set_tenant(conn, tenant)
                result = await self.store_in(
                    conn, tenant, records, connection_id=connection_id, raw=raw, traceparents=traceparents
                )
                if before_commit is not None:
                    await before_commit(conn, result)
                return result

        return await retry_on_conflict(once, attempts=8)

    async def store_in(
        self,
        conn: AsyncConnection,
        tenant: uuid.UUID,
        records: Sequence[Record],
        *,
        connection_id: uuid.UUID | None = None,
        raw: bytes | None = None,
        traceparents: Sequence[str | None] | None = None,
    ) -> IngestResult:
        """Store records in the caller's transaction (InvalidRecord if one cannot be stored as it is).

        `traceparents`, one per record, names the request each record came from when several are stored together.
        """
        for record in records:
            check_record(record)
        resolution = await self.resolver.resolve(conn, tenant, [_ref(r) for r in records])
        events: list[Envelope] = list(resolution.events)
        result = IngestResult(customers=resolution.customers)
        ids = [
            record_id(tenant, _kind(r), _source(r), _external(r)) if not isinstance(r, CustomerRecord) else None
            for r in records
        ]
        # Only ids derived from a source's own id can already exist; fresh UUIDv7s cannot.
        derived = [i for i, r in zip(ids, records, strict=True) if i is not None and _external(r)]
        existing = await _existing(conn, tenant, derived)
        seen: set[uuid.UUID] = set()
        raw_text = raw[:RAW_LIMIT].decode("utf-8", "replace") if raw else None
        traces = list(traceparents) if traceparents is not None else [None] * len(records)
        fresh: list[tuple[Record, uuid.UUID, uuid.UUID | None, str | None]] = []
        for record, record_uuid, customer, trace in zip(records, ids, resolution.customers, traces, strict=True):
            if isinstance(record, CustomerRecord):
                if customer is not None and record.attributes:
                    data = {"customer_id": str(customer), "keys_added": [], "attributes": record.attributes}
                    events.append(_event(c.CUSTOMER_UPDATED, tenant, customer, data, None, trace))
                result.ids.append(customer)
                result.duplicate.append(False)
                continue
            assert record_uuid is not None
            result.ids.append(record_uuid)
            duplicate = record_uuid in existing or record_uuid in seen
            result.duplicate.append(duplicate)
            if duplicate:
                result.duplicates += 1
                continue
            seen.add(record_uuid)
            if isinstance(record, InteractionRecord) and customer is None:
                continue  # an interaction needs a customer; a source that named none is acknowledged, not stored
            result.accepted += 1
            fresh.append((record, record_uuid, customer, trace))
        # The raw request is kept only when it concerns one customer: sealed with another's key it would survive
        # this one's erasure.
        if len({customer or record_uuid for _, record_uuid, customer, _ in fresh}) > 1:
            raw_text = None
        # One round trip for every data key the new records need; anonymous feedback gets a key of its own.
        sealed = await self.keyring.seal_many(
            conn,
            tenant,
            [(customer or record_uuid, _private(record, raw_text)) for record, record_uuid, customer, _ in fresh],
        )
        for (record, record_uuid, customer, trace), section in zip(fresh, sealed, strict=True):
            if isinstance(record, FeedbackRecord):
                events.append(_feedback(tenant, record_uuid, record, customer, connection_id, section, trace))
            else:
                assert isinstance(record, InteractionRecord) and customer is not None
                events.append(_interaction(tenant, record_uuid, record, customer, section, trace))
        if events:
            stored = await append_many(conn, _by_stream(events))
            await project(conn, [INGEST_READ_MODELS], stored)
            await claim_keys(conn, tenant, stored)
        return result

    async def erase(self, tenant: uuid.UUID, customer: uuid.UUID) -> uuid.UUID:
        """Crypto-shred a customer (and those merged into it): destroy the keys, purge read models, publish."""
        erasure_id = uuid7()

        async def once() -> uuid.UUID:
            async with self.engine.begin() as conn:
                await set_tenant(conn, tenant)
                rows = await (await driver(conn)).fetch(
                    "SELECT id FROM customers WHERE tenant_id = $1 AND merged_into = $2", tenant, customer
                )
                merged = [r["id"] for r in rows]
                for subject in [customer, *merged]:
                    await self.keyring.destroy(conn, subject, tenant)
                data = {
                    "customer_id": str(customer),
                    "erasure_id": str(erasure_id),
                    "merged_ids": [str(m) for m in merged],
                }
                event = _event(c.CUSTOMER_ERASED, tenant, customer, data, None)
                stored = await append_many(conn, [PendingAppend(str(customer), [event], ANY_VERSION)])
                await project(conn, [INGEST_READ_MODELS], stored)
                return erasure_id

        return await retry_on_conflict(once)

    async def history(self, conn: AsyncConnection, stream: uuid.UUID) -> list[Envelope]:
        """One aggregate's events."""
        return await load(conn, str(stream))


def _private(record: Record, raw: str | None) -> dict[str, Any]:
    """The fields of a record that are sealed with its customer's key."""
    if isinstance(record, FeedbackRecord):
        # Metadata may hold what a customer said or who they are (survey answers, ticket subjects): sealed too.
        return {"text": record.text, "metadata": record.metadata, **({"raw": raw} if raw is not None else {})}
    assert isinstance(record, InteractionRecord)
    return {"properties": record.properties}


def _feedback(
    tenant: uuid.UUID,
    feedback_id: uuid.UUID,
    record: FeedbackRecord,
    customer: uuid.UUID | None,
    connection_id: uuid.UUID | None,
    sealed: dict[str, Any],
    traceparent: str | None,
) -> Envelope:
    data: dict[str, Any] = {
        "feedback_id": str(feedback_id),
        "customer_id": str(customer) if customer else None,
        "channel": record.channel,
        "source": record.source,
        "connection_id": str(connection_id) if connection_id else None,
        "external_id": record.external_id,
        "scores": {"nps": record.scores.nps, "csat": record.scores.csat, "ces": record.scores.ces},
        "touchpoint": record.touchpoint,
        "occurred_at": (record.occurred_at or datetime.now(UTC)).isoformat(),
        "_pii": sealed,
    }
    return _event(c.FEEDBACK_RECEIVED, tenant, feedback_id, data, record.occurred_at, traceparent)


def _interaction(
    tenant: uuid.UUID,
    interaction_id: uuid.UUID,
    record: InteractionRecord,
    customer: uuid.UUID,
    sealed: dict[str, Any],
    traceparent: str | None,
) -> Envelope:
    data: dict[str, Any] = {
        "interaction_id": str(interaction_id),
        "customer_id": str(customer),
        "name": record.name,
        "channel": record.channel,
        "source": record.source,
        "external_id": record.external_id,
        "occurred_at": (record.occurred_at or datetime.now(UTC)).isoformat(),
        "_pii": sealed,
    }
    return _event(c.INTERACTION_RECORDED, tenant, interaction_id, data, record.occurred_at, traceparent)


def _ref(record: Record) -> CustomerRef | None:
    return record.customer


def _kind(record: Record) -> str:
    return "feedback" if isinstance(record, FeedbackRecord) else "interaction"


def _source(record: Record) -> str:
    return record.source if isinstance(record, FeedbackRecord | InteractionRecord) else ""


def _external(record: Record) -> str | None:
    return record.external_id if isinstance(record, FeedbackRecord | InteractionRecord) else None


async def _existing(conn: AsyncConnection, tenant: uuid.UUID, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    rows = await (await driver(conn)).fetch(
        "SELECT id FROM feedback WHERE tenant_id = $1 AND id = ANY($2::uuid[]) "
        "UNION ALL SELECT id FROM interactions WHERE tenant_id = $1 AND id = ANY($2::uuid[])",
        tenant, ids,
    )  # fmt: skip
    return {r["id"] for r in rows}


def _by_stream(events: Sequence[Envelope]) -> list[PendingAppend]:
    """Group events per stream, keeping order; customers' streams append after whatever they hold."""
    grouped: dict[str, list[Envelope]] = {}
    for event in events:
        grouped.setdefault(event.subject, []).append(event)
    return [
        PendingAppend(
            stream, batch, 0 if batch[0].type in (c.FEEDBACK_RECEIVED, c.INTERACTION_RECORDED) else ANY_VERSION
        )
        for stream, batch in grouped.items()
    ]


async def confirm_erasure(conn: AsyncConnection, event: Envelope) -> None:
    """Record that another service finished its part of an erasure (consumer of `<service>.customer.erased.v1`)."""
    d = event.data
    if not d.get("erasure_id"):
        return
    data = {"erasure_id": d["erasure_id"], "customer_id": d["customer_id"], "service": event.service}
    confirmed = Envelope(
        type=c.ERASURE_CONFIRMED, source=c.SOURCE, subject=d["customer_id"], tenant_id=event.tenant_id, data=data,
        correlation_id=event.correlation_id, causation_id=event.id,
    )  # fmt: skip
    stored = await append_many(conn, [PendingAppend(d["customer_id"], [confirmed], ANY_VERSION)])
    await project(conn, [INGEST_READ_MODELS], stored)
