"""Read side: tenants and keys."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored key, without its secret."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    lookup: str
    digest: str
    scopes: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None


_COLUMNS = "id, tenant_id, name, lookup, digest, scopes, created_at, revoked_at"


def _record(row: object) -> KeyRecord:
    mapping = row._mapping  # type: ignore[attr-defined]
    return KeyRecord(**{**mapping, "scopes": tuple(mapping["scopes"])})


async def key_by_lookup(engine: AsyncEngine, lookup: str) -> KeyRecord | None:
    """Return the key with this public lookup id, revoked or not."""
    async with engine.connect() as conn:
        row = (await conn.execute(text(f"SELECT {_COLUMNS} FROM api_keys WHERE lookup = :l"), {"l": lookup})).first()
    return _record(row) if row else None


async def list_keys(
    engine: AsyncEngine, tenant: uuid.UUID, *, limit: int, after: tuple[datetime, uuid.UUID] | None
) -> list[KeyRecord]:
    """Return a tenant's keys, oldest first, after a (created_at, id) cursor."""
    where = "tenant_id = :t"
    params: dict[str, object] = {"t": tenant, "limit": limit}
    if after:
        where += " AND (created_at, id) > (:at, :id)"
        params.update({"at": after[0], "id": after[1]})
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(f"SELECT {_COLUMNS} FROM api_keys WHERE {where} ORDER BY created_at, id LIMIT :limit"), params
        )
        return [_record(r) for r in rows]


async def tenant_exists(engine: AsyncEngine, tenant: uuid.UUID) -> bool:
    """Say whether a tenant exists."""
    async with engine.connect() as conn:
        return bool(await conn.scalar(text("SELECT 1 FROM tenants WHERE id = :t"), {"t": tenant}))
