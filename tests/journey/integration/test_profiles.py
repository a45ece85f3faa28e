"""Customers' attributes from ingest, applied a batch at a time: each field keeps the value of the newest version that
set it, whatever the order in the batch, and a merge or erasure in the batch is applied in its place."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_cli.stack import with_user_and_database
from cxm_common.db import create_engine, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.migrations import upgrade
from cxm_journey import contracts as c
from cxm_journey.profiles import on_customer_events
from cxm_journey.service import SPEC

T0 = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture
async def runtime(database_url: str, runtime_role: str) -> AsyncIterator[AsyncEngine]:
    """Journey's schema, and an engine of its runtime role."""
    await upgrade(database_url, SPEC.name, SPEC.migrations, role=runtime_role)
    engine = create_engine(with_user_and_database(database_url, user=runtime_role), SPEC.name)
    yield engine
    await engine.dispose()


def ingest_event(type_: str, tenant: uuid.UUID, customer: uuid.UUID, version: int, **data: Any) -> Envelope:
    return Envelope(
        type=type_, source="ingest", subject=str(customer), tenant_id=tenant, aggregate_version=version, time=T0,
        data={"customer_id": str(customer), **data},
    )  # fmt: skip


def updated(tenant: uuid.UUID, customer: uuid.UUID, version: int, **attributes: Any) -> Envelope:
    return ingest_event(c.CUSTOMER_UPDATED, tenant, customer, version, keys_added=[], attributes=attributes)


async def apply(engine: AsyncEngine, tenant: uuid.UUID, events: list[Envelope]) -> None:
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        await on_customer_events(conn, events)


async def profiles(engine: AsyncEngine, tenant: uuid.UUID) -> dict[uuid.UUID, tuple[str | None, float | None]]:
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        rows = await (await driver(conn)).fetch("SELECT id, segment, value FROM profiles")
    return {r["id"]: (r["segment"], r["value"]) for r in rows}


async def test_each_field_keeps_its_newest_version_whatever_the_order_in_a_batch(runtime: AsyncEngine) -> None:
    tenant, ann, bob = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await apply(
        runtime, tenant,
        [
            updated(tenant, ann, 3, segment="enterprise"),
            updated(tenant, ann, 2, segment="smb", value=120),  # older: only `value` is still unset by a newer one
            updated(tenant, bob, 1, segment="mid", nickname="ignored"),
            updated(tenant, bob, 2, value=True),  # not a number: no change
        ],
    )  # fmt: skip
    assert await profiles(runtime, tenant) == {ann: ("enterprise", 120.0), bob: ("mid", None)}
    await apply(
        runtime, tenant, [updated(tenant, ann, 1, segment="startup", value=5), updated(tenant, ann, 4, value=9)]
    )
    assert (await profiles(runtime, tenant))[ann] == ("enterprise", 9.0)


async def test_an_erasure_in_the_batch_clears_what_came_before_it_and_outranks_older_updates(
    runtime: AsyncEngine,
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    ann = uuid.uuid4()
    await apply(
        runtime, tenant,
        [
            updated(tenant, ann, 1, segment="smb", value=50),
            ingest_event(c.CUSTOMER_ERASED_INGEST, tenant, ann, 2, erasure_id=str(uuid.uuid4()), merged_ids=[]),
            updated(tenant, ann, 1, segment="late"),  # an older update redelivered after the erasure
        ],
    )  # fmt: skip
    assert await profiles(runtime, tenant) == {ann: (None, None)}
    await apply(runtime, other, [updated(other, uuid.uuid4(), 1, segment="smb")])
    assert await profiles(runtime, tenant) == {ann: (None, None)}  # the other tenant's profile is not seen
