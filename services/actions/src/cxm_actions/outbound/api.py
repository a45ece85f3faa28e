"""Routes of the outbound webhooks: subscribe, list, read, delete, and read the delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions.outbound import subscriptions
from cxm_actions.outbound.event_types import MAX_PATTERNS, check_patterns
from cxm_actions.outbound.subscriptions import NotFound
from cxm_actions.outbound.targets import MAX_URL_LENGTH, TargetRefused, check_target
from cxm_common.auth import scoped
from cxm_common.db import set_tenant
from cxm_common.pagination import cursor_time, decode_cursor, encode_cursor, limit_param
from cxm_common.problems import StrictJsonRoute

if TYPE_CHECKING:
    from cxm_actions.outbound.wiring import OutboundContext

Admin = Annotated[uuid.UUID, Depends(scoped("admin"))]
Reader = Annotated[uuid.UUID, Depends(scoped("actions:read"))]
T = TypeVar("T")


class SubscriptionIn(BaseModel):
    """A URL to call with the events of the given types."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="An https URL on a public address.")
    event_types: list[Annotated[str, Field(min_length=1, max_length=120)]] = Field(
        min_length=1,
        max_length=MAX_PATTERNS,
        description="Exact types (`insight.alert.raised.v1`) or patterns (`journey.*`, `insight.alert.*`).",
    )
    description: str | None = Field(default=None, max_length=500)


class SubscriptionOut(BaseModel):
    """A subscription; its secret is never shown again after creation."""

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    status: Literal["active", "disabled"]
    disabled_reason: str | None = None
    created_at: datetime
    updated_at: datetime


class CreatedOut(SubscriptionOut):
    """A new subscription with the secret to verify its signatures: keep it, it is shown this once."""

    secret: str


class SubscriptionPage(BaseModel):
    """The tenant's subscriptions, oldest first."""

    items: list[SubscriptionOut]


class DeliveryOut(BaseModel):
    """One event for one subscription and where its delivery stands."""

    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime


class AttemptOut(BaseModel):
    """One request of a delivery."""

    attempt: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


class DeliveryDetail(DeliveryOut):
    """A delivery with every attempt made."""

    attempt_log: list[AttemptOut]


class DeliveryPage(BaseModel):
    """The delivery log, newest first; `next_cursor` fetches the next page."""

    items: list[DeliveryOut]
    next_cursor: str | None


def _after(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    position = decode_cursor(cursor)
    if position is None:
        return None
    try:
        return cursor_time(position["at"]), uuid.UUID(position["id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise HTTPException(400, "The cursor is not one this API returned.") from exc


def routers(ctx: OutboundContext) -> list[APIRouter]:
    """Subscription routes (`actions:write` to change, `actions:read` to look)."""
    router = APIRouter(route_class=StrictJsonRoute, tags=["webhooks"])
    engine = ctx.runtime.engine

    async def read(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with engine.connect() as conn, conn.begin():
            await set_tenant(conn, tenant)
            try:
                return await work(conn)
            except NotFound as exc:
                raise HTTPException(404, str(exc)) from exc

    async def write(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        try:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                result = await work(conn)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        ctx.cache.forget(tenant)
        ctx.runtime.committed()
        return result

    @router.post("/v1/subscriptions", status_code=201, response_model=CreatedOut, summary="Subscribe a URL to events")
    async def create(body: SubscriptionIn, tenant: Admin) -> dict[str, Any]:
        try:
            patterns = check_patterns(body.event_types)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        try:
            target = await check_target(body.url.strip(), ctx.policy, ctx.resolve)
        except TargetRefused as exc:
            raise HTTPException(422, f"The URL is refused: {exc}.") from exc
        keyring = ctx.keyring
        if keyring is None:
            raise HTTPException(503, "Outbound webhooks need CXM_MASTER_KEY: the signing secrets are sealed with it.")
        row, secret = await write(
            tenant, lambda conn: subscriptions.create(conn, keyring, tenant, target.url, patterns, body.description)
        )
        return {**row, "secret": secret}

    @router.get("/v1/subscriptions", response_model=SubscriptionPage, summary="List subscriptions")
    async def list_(tenant: Reader) -> dict[str, Any]:
        return {"items": await read(tenant, lambda conn: subscriptions.list_subscriptions(conn, tenant))}

    @router.get("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut, summary="One subscription")
    async def get(subscription_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: subscriptions.get_subscription(conn, tenant, subscription_id))
        if found is None:
            raise HTTPException(404, f"No subscription {subscription_id}.")
        return found

    @router.delete("/v1/subscriptions/{subscription_id}", status_code=204, summary="Delete a subscription")
    async def delete(subscription_id: uuid.UUID, tenant: Admin) -> None:
        keyring = ctx.keyring
        if keyring is None:
            raise HTTPException(503, "Outbound webhooks need CXM_MASTER_KEY: the signing secrets are sealed with it.")
        await write(tenant, lambda conn: subscriptions.delete(conn, keyring, tenant, subscription_id))

    @router.get(
        "/v1/subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage, summary="The delivery log"
    )
    async def deliveries(
        subscription_id: uuid.UUID,
        tenant: Reader,
        status: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
        limit: int = limit_param(),
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        after = _after(cursor)
        items, more = await read(
            tenant,
            lambda conn: subscriptions.list_deliveries(
                conn, tenant, subscription_id, status=status, limit=limit, after=after
            ),
        )
        last = items[-1] if items and more else None
        next_cursor = encode_cursor({"at": last["created_at"].isoformat(), "id": str(last["id"])}) if last else None
        return {"items": items, "next_cursor": next_cursor}

    @router.get(
        "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}",
        response_model=DeliveryDetail,
        summary="One delivery with its attempts",
    )
    async def delivery(subscription_id: uuid.UUID, delivery_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: subscriptions.get_delivery(conn, tenant, subscription_id, delivery_id))
        if found is None:
            raise HTTPException(404, f"No delivery {delivery_id} of subscription {subscription_id}.")
        return found

    return [router]
