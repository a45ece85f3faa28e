"""The gateway's own routes: tenants (operator), API keys (admin scope) and stream tokens."""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field

from cxm_common.auth import SCOPES, scoped
from cxm_common.pagination import cursor_time, decode_cursor, encode_cursor, limit_param
from cxm_common.problems import StrictJsonRoute
from cxm_common.service import Runtime
from cxm_gateway import handlers, queries
from cxm_gateway.config import Settings
from cxm_gateway.domain.keys import InvalidScopes
from cxm_gateway.queries import KeyRecord

AdminTenant = Annotated[uuid.UUID, Depends(scoped("admin"))]


class TenantIn(BaseModel):
    """A new tenant."""

    name: str = Field(min_length=1, max_length=200)


class TenantOut(BaseModel):
    """The tenant and its first key, which holds every scope. The key is shown only here."""

    tenant_id: uuid.UUID
    api_key: str
    key_id: uuid.UUID
    scopes: list[str]


class KeyIn(BaseModel):
    """A new API key."""

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=len(SCOPES), description=f"Any of: {', '.join(SCOPES)}.")


class KeyOut(BaseModel):
    """A key without its secret."""

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None = None


class NewKeyOut(KeyOut):
    """A key at creation: the secret is shown once."""

    key: str


class KeyPage(BaseModel):
    """A page of keys."""

    items: list[KeyOut]
    next_cursor: str | None = None


class StreamTokenOut(BaseModel):
    """A short-lived token for `GET /v1/stream?token=`."""

    token: str
    expires_in: int


def _key_out(record: KeyRecord) -> KeyOut:
    return KeyOut(
        id=record.id,
        name=record.name,
        prefix=f"cxm_{record.lookup}",
        scopes=list(record.scopes),
        created_at=record.created_at,
        revoked_at=record.revoked_at,
    )


def routers(runtime: Runtime) -> list[APIRouter]:
    """The gateway's routes, bound to this process's runtime."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    engine = runtime.engine
    router = APIRouter(route_class=StrictJsonRoute)

    def operator(authorization: Annotated[str | None, Header()] = None) -> None:
        expected = settings.admin_token
        presented = (authorization or "").removeprefix("Bearer ").strip()
        if not expected or not presented or not hmac.compare_digest(presented.encode(), expected.encode()):
            raise HTTPException(401, "Send the operator token (CXM_ADMIN_TOKEN) as a bearer token.")

    @router.post(
        "/v1/admin/tenants", status_code=201, response_model=TenantOut, tags=["tenants"], summary="Create a tenant"
    )
    async def create_tenant(body: TenantIn, _: None = Depends(operator)) -> TenantOut:
        issued = await handlers.create_tenant(engine, body.name)
        return TenantOut(
            tenant_id=issued.tenant_id, api_key=issued.key.token, key_id=issued.id, scopes=list(issued.scopes)
        )

    @router.post("/v1/api-keys", status_code=201, response_model=NewKeyOut, tags=["api keys"], summary="Create a key")
    async def create_key(body: KeyIn, tenant: AdminTenant) -> NewKeyOut:
        try:
            issued = await handlers.create_key(engine, tenant, body.name, body.scopes)
        except InvalidScopes as exc:
            raise HTTPException(422, str(exc)) from exc
        record = await queries.key_by_lookup(engine, issued.key.lookup)
        assert record is not None
        return NewKeyOut(**_key_out(record).model_dump(), key=issued.key.token)

    @router.get("/v1/api-keys", response_model=KeyPage, tags=["api keys"], summary="List keys")
    async def list_keys(tenant: AdminTenant, limit: int = limit_param(), cursor: str | None = None) -> KeyPage:
        position = decode_cursor(cursor)
        after = None
        if position is not None:
            try:
                after = (cursor_time(position["at"]), uuid.UUID(position["id"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise HTTPException(400, "The cursor is not one this API returned.") from exc
        records = await queries.list_keys(engine, tenant, limit=limit + 1, after=after)
        page, more = records[:limit], len(records) > limit
        next_cursor = encode_cursor({"at": page[-1].created_at.isoformat(), "id": str(page[-1].id)}) if more else None
        return KeyPage(items=[_key_out(r) for r in page], next_cursor=next_cursor)

    @router.delete("/v1/api-keys/{key_id}", status_code=204, tags=["api keys"], summary="Revoke a key")
    async def revoke_key(key_id: uuid.UUID, tenant: AdminTenant, request: Request) -> Response:
        try:
            lookup = await handlers.revoke_key(engine, tenant, key_id)
        except handlers.KeyNotFound as exc:
            raise HTTPException(404, "No such API key.") from exc
        request.app.state.keys.forget(lookup)  # at once here; other replicas within the cache's TTL
        return Response(status_code=204)

    return [router]
