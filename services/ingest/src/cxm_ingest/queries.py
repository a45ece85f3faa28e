"""Read side of ingest: feedback, customers and erasures, with sealed fields opened for the caller."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing, unseal
from cxm_common.db import driver

FEEDBACK_COLUMNS = (
    "id, customer_id, channel, source, connection_id, external_id, nps, csat, ces, touchpoint, occurred_at, "
    "received_at, metadata::text AS metadata, pii::text AS pii"
)


async def open_fields(conn: AsyncConnection, keyring: KeyRing, sections: list[Any]) -> list[dict[str, Any]]:
    """Open `_pii` sections (as stored in read models) into their plain fields; {} where erased."""
    parsed = [orjson.loads(s) if isinstance(s, str) else s for s in sections]
    subjects = {uuid.UUID(p["subject"]) for p in parsed if p}
    keys = await keyring.keys(conn, None, subjects, create=False)
    opened = []
    for section in parsed:
        if not section:
            opened.append({})
            continue
        subject = uuid.UUID(section["subject"])
        opened.append({name: unseal(keys.get(subject), token, subject) for name, token in section["fields"].items()})
    return opened


def _feedback_out(row: Any, pii: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "channel": row["channel"],
        "source": row["source"],
        "connection_id": row["connection_id"],
        "external_id": row["external_id"],
        "text": pii.get("text"),
        "scores": {"nps": row["nps"], "csat": row["csat"], "ces": row["ces"]},
        "touchpoint": row["touchpoint"],
        "occurred_at": row["occurred_at"],
        "received_at": row["received_at"],
        "metadata": pii.get("metadata") or orjson.loads(row["metadata"]),
    }


async def feedback(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, feedback_id: uuid.UUID
) -> dict[str, Any] | None:
    """One feedback record of the tenant."""
    row = await (await driver(conn)).fetchrow(
        f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE tenant_id = $1 AND id = $2", tenant, feedback_id
    )
    if row is None:
        return None
    [pii] = await open_fields(conn, keyring, [row["pii"]])
    return _feedback_out(row, pii)


def _filters(
    tenant: uuid.UUID,
    customers: list[uuid.UUID] | None, channel: str | None, source: str | None, since: datetime | None,
    until: datetime | None, after: tuple[datetime, uuid.UUID] | None,
) -> tuple[str, list[Any]]:  # fmt: skip
    where: list[str] = ["tenant_id = $1"]
    args: list[Any] = [tenant]
    if customers is not None:
        args.append(customers)
        where.append(f"customer_id = ANY(${len(args)}::uuid[])")
    for column, value, op in (("channel", channel, "="), ("source", source, "="), ("occurred_at", since, ">="),
                              ("occurred_at", until, "<")):  # fmt: skip
        if value is not None:
            args.append(value)
            where.append(f"{column} {op} ${len(args)}")
    if after is not None:
        args.extend(after)
        where.append(f"(occurred_at, id) > (${len(args) - 1}, ${len(args)})")
    return " AND ".join(where), args


async def list_feedback(
    conn: AsyncConnection,
    keyring: KeyRing,
    tenant: uuid.UUID,
    *,
    customers: list[uuid.UUID] | None,
    channel: str | None,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of the tenant's feedback, by event time."""
    where, args = _filters(tenant, customers, channel, source, since, until, after)
    rows = await (await driver(conn)).fetch(
        f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE {where} ORDER BY occurred_at, id LIMIT {int(limit)}", *args
    )
    opened = await open_fields(conn, keyring, [r["pii"] for r in rows])
    return [_feedback_out(r, p) for r, p in zip(rows, opened, strict=True)]


async def export_feedback(
    conn: AsyncConnection,
    keyring: KeyRing,
    tenant: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    batch: int = 1000,
) -> AsyncIterator[dict[str, Any]]:
    """Every feedback record in a period, in pages, for a streamed export."""
    after: tuple[datetime, uuid.UUID] | None = None
    while True:
        page = await list_feedback(
            conn, keyring, tenant, customers=None, channel=None, source=None, since=since, until=until, after=after,
            limit=batch,
        )  # fmt: skip
        for item in page:
            yield item
        if len(page) < batch:
            return
        after = (page[-1]["occurred_at"], page[-1]["id"])


async def customer(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, customer_id: uuid.UUID
) -> dict[str, Any] | None:
    """A customer of the tenant, its sealed contact details opened."""
    row = await (await driver(conn)).fetchrow(
        "SELECT id, attributes::text AS attributes, pii::text AS pii, erased_at FROM customers "
        "WHERE tenant_id = $1 AND id = $2",
        tenant, customer_id,
    )  # fmt: skip
    if row is None:
        return None
    [pii] = await open_fields(conn, keyring, [row["pii"]])
    return {
        "id": row["id"],
        "key": pii.get("key"),
        "attributes": orjson.loads(row["attributes"]),
        "email": pii.get("email"),
        "name": pii.get("name"),
        "phone": pii.get("phone"),
        "erased": row["erased_at"] is not None,
    }


async def erasure(
    conn: AsyncConnection, tenant: uuid.UUID, erasure_id: uuid.UUID, services: tuple[str, ...]
) -> dict[str, Any] | None:
    """An erasure and each service's completion time."""
    row = await (await driver(conn)).fetchrow(
        "SELECT id, customer_id, requested_at, services::text AS services FROM erasures "
        "WHERE tenant_id = $1 AND id = $2",
        tenant, erasure_id,
    )  # fmt: skip
    if row is None:
        return None
    done = orjson.loads(row["services"])
    completion = {s: done.get(s) for s in services}
    return {
        "id": row["id"],
        "customer_id": row["customer_id"],
        "requested_at": row["requested_at"],
        "services": completion,
        "complete": all(completion.values()),
    }


async def merged_into(conn: AsyncConnection, tenant: uuid.UUID, customer_id: uuid.UUID) -> list[uuid.UUID]:
    """A customer and every customer merged into it."""
    rows = await (await driver(conn)).fetch(
        "SELECT id FROM customers WHERE tenant_id = $1 AND merged_into = $2", tenant, customer_id
    )
    return [customer_id, *(r["id"] for r in rows)]
