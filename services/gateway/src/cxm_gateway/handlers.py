"""Commands on tenants and keys: one transaction each, events appended and projected together."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.auth import SCOPES
from cxm_common.db import set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import append, load
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_common.projections import project
from cxm_gateway.domain.events import KEY_CREATED, KEY_REVOKED, TENANT_CREATED
from cxm_gateway.domain.keys import NewKey, check_scopes, generate_key
from cxm_gateway.projections import TENANTS_AND_KEYS

SOURCE = "gateway"


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as returned once at creation."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    scopes: tuple[str, ...]
    key: NewKey


class KeyNotFound(Exception):
    """No key with this id belongs to the caller's tenant."""


def _event(type_: str, stream: uuid.UUID, tenant: uuid.UUID, data: dict[str, object]) -> Envelope:
    return Envelope(
        type=type_, source=SOURCE, subject=str(stream), tenant_id=tenant, data=data, traceparent=current_traceparent()
    )


def _key_created(tenant: uuid.UUID, name: str, scopes: tuple[str, ...]) -> tuple[uuid.UUID, NewKey, Envelope]:
    key_id, key = uuid7(), generate_key()
    data = {"name": name, "lookup": key.lookup, "digest": key.digest, "scopes": list(scopes)}
    return key_id, key, _event(KEY_CREATED, key_id, tenant, data)


async def create_tenant(engine: AsyncEngine, name: str) -> IssuedKey:
    """Create a tenant and its first key, which holds every scope."""
    tenant = uuid7()
    scopes = tuple(SCOPES)
    key_id, key, key_event = _key_created(tenant, "initial admin key", scopes)
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        stored = await append(conn, str(tenant), [_event(TENANT_CREATED, tenant, tenant, {"name": name})], 0)
        stored += await append(conn, str(key_id), [key_event], 0)
        await project(conn, [TENANTS_AND_KEYS], stored)
    return IssuedKey(key_id, tenant, "initial admin key", scopes, key)


async def create_key(engine: AsyncEngine, tenant: uuid.UUID, name: str, scopes: list[str]) -> IssuedKey:
    """Issue a new key for a tenant with the given scopes."""
    checked = check_scopes(scopes)
    key_id, key, event = _key_created(tenant, name, checked)
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        await project(conn, [TENANTS_AND_KEYS], await append(conn, str(key_id), [event], 0))
    return IssuedKey(key_id, tenant, name, checked, key)


async def revoke_key(engine: AsyncEngine, tenant: uuid.UUID, key_id: uuid.UUID) -> str:
    """Revoke a key of the tenant (revoking twice changes nothing); return its lookup id."""
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        history = await load(conn, str(key_id))
        if not history or history[0].tenant_id != tenant:
            raise KeyNotFound(str(key_id))
        lookup = str(history[0].data["lookup"])
        if any(e.type == KEY_REVOKED for e in history):
            return lookup
        stored = await append(conn, str(key_id), [_event(KEY_REVOKED, key_id, tenant, {})], len(history))
        await project(conn, [TENANTS_AND_KEYS], stored)
    return lookup
