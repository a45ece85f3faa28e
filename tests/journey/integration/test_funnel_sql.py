"""The funnel statement gives exactly the domain's funnel on random journeys, and row-level security on journey's read
models shows a runtime role only the tenant of its transaction (the policy reads the setting once per statement)."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_cli.stack import with_user_and_database
from cxm_common.db import ALL_TENANTS, create_engine, driver, set_tenant
from cxm_common.migrations import upgrade
from cxm_journey import queries
from cxm_journey.domain.funnels import FunnelStep, funnel
from cxm_journey.domain.paths import Step
from cxm_journey.service import SPEC

# Around the end of daylight saving time in Europe (2026-10-25): a window of days is not a multiple of 24 h there.
T0 = datetime(2026, 10, 20, tzinfo=UTC)
NAMES = ("page_viewed", "pricing_viewed", "checkout_started", "feedback_web")
STAGES = ("awareness", "purchase", None)
STEP_COLUMNS = ["id", "tenant_id", "customer_id", "at", "kind", "name", "stage"]


@pytest.fixture
async def role(database_url: str, runtime_role: str) -> str:
    """Journey's schema migrated with a runtime role of this test's own."""
    await upgrade(database_url, SPEC.name, SPEC.migrations, role=runtime_role)
    return runtime_role


@pytest.fixture
async def runtime(database_url: str, role: str) -> AsyncIterator[AsyncEngine]:
    """An engine of the runtime role."""
    engine = create_engine(with_user_and_database(database_url, user=role), SPEC.name)
    yield engine
    await engine.dispose()


def random_journeys(rng: random.Random, customers: int) -> dict[str, list[Step]]:
    """Journeys of interactions and feedback at whole hours (ties and steps exactly at a window's end are common),
    some a few microseconds off; feedback is named like an interaction that also exists."""
    journeys: dict[str, list[Step]] = {}
    for _ in range(customers):
        customer = str(uuid.UUID(int=rng.getrandbits(128)))
        steps = []
        for k in range(rng.randrange(0, 14)):
            at = T0 + timedelta(hours=rng.randrange(0, 12 * 24), microseconds=rng.choice((0, 0, 0, 1, -1, 250_000)))
            kind = rng.choice(("interaction", "interaction", "interaction", "feedback"))
            name = "feedback_web" if kind == "feedback" else rng.choice(NAMES)
            steps.append(Step(f"{customer}-{k:02d}", at, kind, name, rng.choice(STAGES)))
        journeys[customer] = steps
    return journeys


async def insert(database_url: str, tenant: uuid.UUID, journeys: dict[str, list[Step]], rng: random.Random) -> None:
    """The journeys' steps as rows of `steps`, in a random order."""
    rows = [(s.id, tenant, uuid.UUID(c), s.at, s.kind, s.name, s.stage) for c, steps in journeys.items() for s in steps]
    rng.shuffle(rows)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.copy_records_to_table("steps", schema_name=SPEC.name, columns=STEP_COLUMNS, records=rows)
        await conn.execute(f"ANALYZE {SPEC.name}.steps")
    finally:
        await conn.close()


def random_funnel(rng: random.Random) -> list[FunnelStep]:
    """One to four steps, interactions or stages, a value sometimes repeated."""
    steps = []
    for _ in range(rng.randrange(1, 5)):
        if rng.random() < 0.25:
            steps.append(FunnelStep("stage", rng.choice(("awareness", "purchase"))))
        else:
            steps.append(FunnelStep("interaction", rng.choice(NAMES)))
    return steps


def expected(
    journeys: dict[str, list[Step]], steps: list[FunnelStep], within: timedelta, since: datetime, until: datetime
) -> list[tuple[Any, ...]]:
    """The domain's funnel in the API's terms: entered, rounded conversion, median seconds, drop-off per step."""
    result = funnel(journeys, steps, within=within, since=since, until=until)
    return [
        (s.entered, round(s.conversion_rate, 4) if s.conversion_rate is not None else None,
         s.median_seconds_to_convert, s.drop_off)
        for s in result.steps
    ]  # fmt: skip


async def test_the_funnel_statement_equals_the_domain_funnel_on_random_journeys(
    database_url: str, runtime: AsyncEngine
) -> None:
    rng = random.Random(11)
    tenant, other = uuid.uuid4(), uuid.uuid4()
    journeys = random_journeys(rng, 400)
    await insert(database_url, tenant, journeys, rng)
    await insert(database_url, other, random_journeys(rng, 100), rng)  # another tenant's steps must not count
    for _ in range(40):
        steps = random_funnel(rng)
        within = rng.choice((timedelta(hours=1), timedelta(hours=30), timedelta(days=1), timedelta(days=3)))
        since = T0 + timedelta(hours=rng.randrange(0, 5 * 24))
        until = since + timedelta(hours=rng.randrange(1, 7 * 24))
        async with runtime.begin() as conn:
            await set_tenant(conn, tenant)
            await (await driver(conn)).execute("SET LOCAL timezone = 'Europe/Paris'")
            body = await queries.funnel(conn, tenant, steps, within, since, until)
        got = [
            (s["entered"], s["conversion_rate"], s["median_seconds_to_convert"], s["drop_off"]) for s in body["steps"]
        ]
        assert got == expected(journeys, steps, within, since, until), (steps, within, since, until)


async def test_row_level_security_on_journeys_read_models_shows_only_the_transactions_tenant(
    database_url: str, runtime: AsyncEngine
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    add = "INSERT INTO steps (id, tenant_id, customer_id, at, kind) VALUES ($1, $2, $3, now(), 'interaction')"
    for tenant in (a, b):
        async with runtime.begin() as conn:
            await set_tenant(conn, tenant)
            await (await driver(conn)).execute(add, f"i:{tenant}", tenant, uuid.uuid4())
    visible: dict[str, set[uuid.UUID]] = {}
    for setting in (str(a), str(a).upper(), "", ALL_TENANTS):
        async with runtime.begin() as conn:
            await set_tenant(conn, setting)
            visible[setting] = set(await conn.scalars(text("SELECT tenant_id FROM steps")))
    assert visible == {str(a): {a}, str(a).upper(): set(), "": set(), ALL_TENANTS: {a, b}}
    async with runtime.begin() as conn:  # a transaction that never set its tenant sees nothing
        assert await conn.scalar(text("SELECT count(*) FROM steps")) == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
        async with runtime.begin() as conn:
            await set_tenant(conn, a)
            await (await driver(conn)).execute(add, "i:forged", b, uuid.uuid4())
    async with runtime.begin() as conn:
        await set_tenant(conn, a)
        plan = list(await conn.scalars(text("EXPLAIN SELECT count(*) FROM steps WHERE name = 'x'")))
    # The tenant is read once per statement (an initplan), and rows are compared as uuids rather than as text.
    filters = [line for line in plan if "Filter:" in line]
    assert filters and not any("current_setting" in f or "tenant_id)::text" in f for f in filters), plan
