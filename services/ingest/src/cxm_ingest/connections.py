"""Webhook connections: per-source config with sealed secrets, rotation with a grace period, delivery log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.auth import scoped
from cxm_common.crypto import unseal
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ANY_VERSION, append, load
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_common.pagination import limit_param
from cxm_common.problems import StrictJsonRoute
from cxm_common.projections import Projection, project
from cxm_ingest import contracts as c
from cxm_ingest.sources.base import ConfigError, SourceAdapter
from cxm_ingest.sources.registry import ADAPTERS
from cxm_ingest.wiring import IngestContext

Admin = Annotated[uuid.UUID, Depends(scoped("admin"))]
SECRET = "_secret"


class ConnectionIn(BaseModel):
    """A new webhook connection."""

    source: str = Field(description=f"One of: {', '.join(sorted(ADAPTERS))}.")
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)


class RotateIn(BaseModel):
    """New secrets for a connection; generated ones are made anew when omitted."""

    config: dict[str, Any] = Field(default_factory=dict)
    grace_seconds: int | None = Field(default=None, ge=0, le=30 * 24 * 3600)


class ConnectionOut(BaseModel):
    """A connection; secrets are shown in full only when created or rotated."""

    id: uuid.UUID
    source: str
    name: str
    webhook_url: str
    config: dict[str, Any]
    created_at: datetime
    rotated_at: datetime | None = None
    grace_until: datetime | None = None


class DeliveryOut(BaseModel):
    """One webhook request and what became of it."""

    id: uuid.UUID
    delivery_id: str | None
    received_at: datetime
    outcome: str
    reason: str | None
    records: int


class ConnectionPage(BaseModel):
    """Connections, oldest first."""

    items: list[ConnectionOut]


class DeliveryPage(BaseModel):
    """Recent deliveries, newest first."""

    items: list[DeliveryOut]


async def apply(conn: AsyncConnection, event: Envelope) -> None:
    """Projection of connection events into the `connections` table."""
    pg = await driver(conn)
    d = event.data
    if event.type == c.CONNECTION_CREATED:
        await pg.execute(
            "INSERT INTO connections (id, tenant_id, source, name, secrets, created_at) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, $6) ON CONFLICT (id) DO NOTHING",
            uuid.UUID(d["connection_id"]), event.tenant_id, d["source"], d["name"], orjson.dumps(d[SECRET]).decode(),
            event.time,
        )  # fmt: skip
    elif event.type == c.CONNECTION_ROTATED:
        await pg.execute(
            "UPDATE connections SET secrets = $2::jsonb, rotated_at = $3, grace_until = $4 "
            "WHERE id = $1 AND tenant_id = $5",
            uuid.UUID(d["connection_id"]), orjson.dumps(d[SECRET]).decode(), event.time,
            datetime.fromisoformat(d["grace_until"]), event.tenant_id,
        )  # fmt: skip
    elif event.type == c.CONNECTION_DELETED:
        await pg.execute(
            "UPDATE connections SET deleted_at = $2 WHERE id = $1 AND tenant_id = $3",
            uuid.UUID(d["connection_id"]),
            event.time,
            event.tenant_id,
        )


CONNECTIONS = Projection(name="connections", tables=["connections"], apply=apply)


def masked(adapter: SourceAdapter, config: dict[str, Any]) -> dict[str, Any]:
    """The config with its secrets hidden but for their last four characters."""
    return {
        k: (f"…{str(v)[-4:]}" if k in adapter.secret_fields and v else v)
        for k, v in config.items()
    }  # fmt: skip


def webhook_url(base: str, adapter: SourceAdapter, connection_id: uuid.UUID, config: dict[str, Any]) -> str:
    """The URL to paste into the tool."""
    url = f"{base.rstrip('/')}/v1/webhooks/{adapter.name}/{connection_id}"
    return f"{url}/{config['token']}" if adapter.uses_path_token else url


async def load_connection(ctx: IngestContext, conn: AsyncConnection, connection_id: uuid.UUID) -> dict[str, Any] | None:
    """A live connection with its configs opened: `current`, and `previous` while its grace period lasts."""
    row = await (await driver(conn)).fetchrow(
        "SELECT id, tenant_id, source, name, secrets::text AS secrets, created_at, rotated_at, grace_until "
        "FROM connections WHERE id = $1 AND deleted_at IS NULL",
        connection_id,
    )
    if row is None:
        return None
    section = orjson.loads(row["secrets"])
    subject = uuid.UUID(section["subject"])
    keys = await ctx.keyring.keys(conn, None, [subject], create=False)
    fields = {name: unseal(keys.get(subject), token, subject) for name, token in section["fields"].items()}
    configs = [fields["config"]]
    grace = row["grace_until"]
    if fields.get("previous") and grace and grace > datetime.now(UTC):
        configs.append(fields["previous"])
    return {**dict(row), "config": fields["config"], "configs": configs}


def routers(ctx: IngestContext) -> list[APIRouter]:
    """Connection management routes (scope `admin`)."""
    router = APIRouter(route_class=StrictJsonRoute, tags=["connections"])
    engine = ctx.runtime.engine
    base = ctx.settings.public_base_url

    def out(adapter: SourceAdapter, row: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": row["id"], "source": row["source"], "name": row["name"],
            "webhook_url": webhook_url(base, adapter, row["id"], row["config"]), "config": config,
            "created_at": row["created_at"], "rotated_at": row.get("rotated_at"), "grace_until": row.get("grace_until"),
        }  # fmt: skip

    async def append_event(
        conn: AsyncConnection, tenant: uuid.UUID, type_: str, cid: uuid.UUID, data: dict[str, Any]
    ) -> None:
        event = Envelope(type_, c.SOURCE, str(cid), tenant, data, traceparent=current_traceparent())
        stored = await append(conn, str(cid), [event], ANY_VERSION)
        await project(conn, [CONNECTIONS], stored)

    @router.post("/v1/connections", status_code=201, response_model=ConnectionOut, summary="Create a connection")
    async def create(body: ConnectionIn, tenant: Admin) -> dict[str, Any]:
        adapter = ADAPTERS.get(body.source)
        if adapter is None:
            raise HTTPException(422, f"Unknown source {body.source!r}; choose one of {', '.join(sorted(ADAPTERS))}.")
        try:
            config = adapter.prepare_config(dict(body.config))
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from exc
        cid = uuid7()
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            sealed = await ctx.keyring.seal_pii(conn, tenant, cid, {"config": config})
            data = {"connection_id": str(cid), "source": adapter.name, "name": body.name, SECRET: sealed}
            await append_event(conn, tenant, c.CONNECTION_CREATED, cid, data)
            row = await load_connection(ctx, conn, cid)
        ctx.runtime.committed()
        assert row is not None
        return out(adapter, row, config)

    @router.get("/v1/connections", response_model=ConnectionPage, summary="List connections")
    async def list_(tenant: Admin) -> dict[str, Any]:
        async with engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)  # the table has no row-level security; filter explicitly
            rows = await (await driver(conn)).fetch(
                "SELECT id FROM connections WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at", tenant
            )
            items = []
            for r in rows:
                row = await load_connection(ctx, conn, r["id"])
                if row is not None:
                    adapter = ADAPTERS[row["source"]]
                    listed = out(adapter, row, masked(adapter, row["config"]))
                    if adapter.uses_path_token:  # the URL carries the secret: shown in full only at creation
                        listed["webhook_url"] = listed["webhook_url"].rsplit("/", 1)[0] + "/…"
                    items.append(listed)
        return {"items": items}

    async def owned(conn: AsyncConnection, tenant: uuid.UUID, cid: uuid.UUID) -> dict[str, Any]:
        await set_tenant(conn, ALL_TENANTS)
        row = await load_connection(ctx, conn, cid)
        if row is None or row["tenant_id"] != tenant:
            raise HTTPException(404, "No such connection.")
        await set_tenant(conn, tenant)
        return row

    @router.post("/v1/connections/{connection_id}/rotate", response_model=ConnectionOut, summary="Rotate secrets")
    async def rotate(connection_id: uuid.UUID, body: RotateIn, tenant: Admin) -> dict[str, Any]:
        async with engine.begin() as conn:
            row = await owned(conn, tenant, connection_id)
            adapter = ADAPTERS[row["source"]]
            # Generated secrets are made anew; kept fields (e.g. a Salesforce organization id) carry over.
            carried = {k: v for k, v in row["config"].items() if k not in adapter.secret_fields}
            try:
                config = adapter.prepare_config({**carried, **body.config})
            except ConfigError as exc:
                raise HTTPException(422, str(exc)) from exc
            grace = timedelta(
                seconds=ctx.settings.rotation_grace_s if body.grace_seconds is None else body.grace_seconds
            )
            sealed = await ctx.keyring.seal_pii(
                conn, tenant, connection_id, {"config": config, "previous": row["config"]}
            )
            data = {"connection_id": str(connection_id), SECRET: sealed,
                    "grace_until": (datetime.now(UTC) + grace).isoformat()}  # fmt: skip
            await append_event(conn, tenant, c.CONNECTION_ROTATED, connection_id, data)
            fresh = await owned(conn, tenant, connection_id)
        ctx.runtime.committed()
        return out(adapter, fresh, config)

    @router.delete("/v1/connections/{connection_id}", status_code=204, summary="Delete a connection")
    async def delete(connection_id: uuid.UUID, tenant: Admin) -> None:
        async with engine.begin() as conn:
            await owned(conn, tenant, connection_id)
            await append_event(conn, tenant, c.CONNECTION_DELETED, connection_id, {"connection_id": str(connection_id)})
        ctx.runtime.committed()

    @router.get("/v1/connections/{connection_id}/deliveries", response_model=DeliveryPage, summary="Recent deliveries")
    async def deliveries(connection_id: uuid.UUID, tenant: Admin, limit: int = limit_param()) -> dict[str, Any]:
        async with engine.begin() as conn:
            await owned(conn, tenant, connection_id)
            rows = await (await driver(conn)).fetch(
                "SELECT id, delivery_id, received_at, outcome, reason, records FROM deliveries "
                "WHERE connection_id = $1 ORDER BY received_at DESC LIMIT $2",
                connection_id, limit,
            )  # fmt: skip
        return {"items": [dict(r) for r in rows]}

    return [router]


async def history(conn: AsyncConnection, cid: uuid.UUID) -> list[Envelope]:
    """A connection's events."""
    return await load(conn, str(cid))
