"""Webhook receivers: each source's native request, verified over its raw bytes, stored first, answered natively."""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.auth import Principal, webhook_call
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.eventstore import retry_on_conflict
from cxm_common.ids import uuid7
from cxm_ingest.connections import load_connection
from cxm_ingest.domain.records import InvalidRecord, check_record
from cxm_ingest.sources.base import (
    BadPayload,
    Delivery,
    Refused,
    Reply,
    SourceAdapter,
    WebhookRequest,
    accepts_media_type,
)
from cxm_ingest.sources.registry import ADAPTERS
from cxm_ingest.wiring import IngestContext

log = logging.getLogger(__name__)
Gateway = Annotated[Principal, Depends(webhook_call)]


def _answer(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type)


async def _log_delivery(
    conn: AsyncConnection, tenant: uuid.UUID, connection_id: uuid.UUID, delivery_id: str | None, outcome: str,
    reason: str | None, records: int = 0,
) -> bool:  # fmt: skip
    """Write the delivery log; for an accepted delivery, False means this delivery id was already accepted."""
    row = await (await driver(conn)).fetchrow(
        """
        INSERT INTO deliveries (id, tenant_id, connection_id, delivery_id, received_at, outcome, reason, records)
        VALUES ($1, $2, $3, $4, now(), $5, $6, $7)
        ON CONFLICT (connection_id, delivery_id) WHERE outcome = 'accepted' AND delivery_id IS NOT NULL DO NOTHING
        RETURNING id
        """,
        uuid7(), tenant, connection_id, delivery_id, outcome, reason, records,
    )  # fmt: skip
    return row is not None


def routers(ctx: IngestContext) -> list[APIRouter]:
    """`/v1/webhooks/{source}/{connection_id}` (and `/{token}` for sources that sign nothing)."""
    router = APIRouter(tags=["webhooks"])
    engine = ctx.runtime.engine
    base = ctx.settings.public_base_url.rstrip("/")

    async def receive(request: Request, source: str, connection_id: str, token: str | None) -> Response:
        adapter: SourceAdapter | None = ADAPTERS.get(source)
        if adapter is None:
            return Response(b"unknown source", status_code=404, media_type="text/plain")
        body = await request.body()
        query = request.url.query
        inbound = WebhookRequest(
            method=request.method,
            url=f"{base}{request.url.path}" + (f"?{query}" if query else ""),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=datetime.now(UTC),
            path_token=token,
        )
        probe = adapter.probe(inbound)
        if probe is not None:
            return _answer(probe)
        try:
            cid = uuid.UUID(connection_id)
        except ValueError:
            return _answer(adapter.refusal(Refused("unknown connection")))
        async with engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)  # the connection says which tenant this is
            connection = await load_connection(ctx, conn, cid)
        if connection is None or connection["source"] != adapter.name:
            return _answer(adapter.refusal(Refused("unknown connection")))
        tenant: uuid.UUID = connection["tenant_id"]
        try:
            _verify(adapter, inbound, connection["configs"])
            content_type = inbound.headers.get("content-type")
            if body and not accepts_media_type(adapter.media_types, content_type):
                raise BadPayload(f"{adapter.name} sends {', '.join(adapter.media_types)}, not {content_type}", 415)
            delivery = adapter.parse(inbound)
            for record in delivery.records:
                try:
                    check_record(record)
                except InvalidRecord as invalid:
                    raise BadPayload(str(invalid), status=422) from invalid
        except (Refused, BadPayload) as error:
            log.info("%s webhook refused on %s: %s", source, cid, error)
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                await _log_delivery(conn, tenant, cid, None, "refused", f"{type(error).__name__}: {error}")
            return _answer(adapter.refusal(error))
        await _store(ctx, tenant, cid, delivery, body)
        ctx.runtime.committed()
        return _answer(adapter.reply(delivery))

    async def _store(ctx: IngestContext, tenant: uuid.UUID, cid: uuid.UUID, delivery: Delivery, raw: bytes) -> None:
        # Sources without a delivery id are deduplicated by their body, and record by record by external id.
        delivery_id = delivery.delivery_id or "sha256:" + hashlib.sha256(raw).hexdigest()

        async def once() -> None:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                if not delivery.records:
                    await _log_delivery(conn, tenant, cid, delivery_id, "ignored", delivery.note)
                    return
                if not await _log_delivery(conn, tenant, cid, delivery_id, "accepted", delivery.note):
                    await _log_delivery(conn, tenant, cid, delivery_id, "duplicate", "delivery already accepted")
                    return
                result = await ctx.ingest.store_in(conn, tenant, delivery.records, connection_id=cid, raw=raw)
                await (await driver(conn)).execute(
                    "UPDATE deliveries SET records = $3 WHERE connection_id = $1 AND delivery_id = $2 "
                    "AND outcome = 'accepted'",
                    cid, delivery_id, result.accepted,
                )  # fmt: skip

        await retry_on_conflict(once, attempts=8)

    async def webhook(request: Request, source: str, connection_id: str, _: Gateway) -> Response:
        return await receive(request, source, connection_id, request.path_params.get("token"))

    for suffix, kind in (("", ""), ("/{token}", "_with_token")):
        for method in ("POST", "PUT", "HEAD", "GET"):
            router.add_api_route(
                "/v1/webhooks/{source}/{connection_id}" + suffix,
                webhook,
                methods=[method],
                operation_id=f"receive_webhook{kind}_{method.lower()}",
                summary="Receive a webhook in the source's native format",
                response_class=Response,
            )

    return [router]


def _verify(adapter: SourceAdapter, request: WebhookRequest, configs: list[dict[str, Any]]) -> None:
    """Accept the current config, or the previous one while a rotation's grace period lasts."""
    error: Refused | None = None
    for config in configs:
        try:
            adapter.verify(request, config, now=request.received_at)
            return
        except Refused as refused:
            error = refused
    assert error is not None
    raise error
