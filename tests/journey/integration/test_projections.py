"""Journey's read models after any sequence of step batches and re-derivations, and after concurrent transactions on
the same customers, are exactly the domain's visits and transitions of each customer's steps: only changed visits
are written, so stale ones must never survive, and none may be computed from a partial view of the steps."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_cli.stack import with_user_and_database
from cxm_common.consumer import LANE
from cxm_common.db import create_engine, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.migrations import upgrade
from cxm_journey import contracts as c
from cxm_journey.domain.paths import Step, transitions, visits
from cxm_journey.projections import apply_many, journeys_of
from cxm_journey.service import SPEC
from cxm_journey.timeline import StageMaps, Timeline

T0 = datetime(2026, 11, 2, tzinfo=UTC)
STAGES = ("awareness", "purchase", "support", "usage")


@pytest.fixture
async def runtime(database_url: str, runtime_role: str) -> AsyncIterator[AsyncEngine]:
    """Journey's schema, and an engine of its runtime role."""
    await upgrade(database_url, SPEC.name, SPEC.migrations, role=runtime_role)
    engine = create_engine(with_user_and_database(database_url, user=runtime_role), SPEC.name)
    yield engine
    await engine.dispose()


def recorded(tenant: uuid.UUID, customer: uuid.UUID, step: Step) -> Envelope:
    data = {"customer_id": str(customer), "step_id": step.id, "kind": "interaction", "name": step.name,
            "channel": "web", "touchpoint": None, "at": step.at.isoformat(), "stage": step.stage,
            "stage_map_version": 1}  # fmt: skip
    return Envelope(type=c.STEP_RECORDED, source=c.SOURCE, subject=str(customer), tenant_id=tenant, data=data)


def rederived(tenant: uuid.UUID, customer: uuid.UUID, stages: dict[str, str | None]) -> Envelope:
    data = {"customer_id": str(customer), "stage_map_version": 2, "stages": stages}
    return Envelope(type=c.CUSTOMER_REDERIVED, source=c.SOURCE, subject=str(customer), tenant_id=tenant, data=data)


async def apply(engine: AsyncEngine, tenant: uuid.UUID, events: list[Envelope], lane: int) -> None:
    async with engine.connect() as conn:
        conn.info[LANE] = lane
        async with conn.begin():
            await set_tenant(conn, tenant)
            await apply_many(conn, events)


async def test_visits_and_transition_counts_equal_the_domains_after_random_batches(runtime: AsyncEngine) -> None:
    rng = random.Random(7)
    tenant = uuid.uuid4()
    journeys: dict[uuid.UUID, dict[str, Step]] = {uuid.uuid4(): {} for _ in range(12)}
    for round_ in range(30):
        events = []
        for customer in rng.sample(list(journeys), 5):
            steps = journeys[customer]
            if steps and rng.random() < 0.3:  # a re-derivation: some steps change stage, visits merge or split
                stages = {i: rng.choice((*STAGES, None)) for i in rng.sample(sorted(steps), min(3, len(steps)))}
                for i, stage in stages.items():
                    old = steps[i]
                    steps[i] = Step(id=i, at=old.at, kind=old.kind, name=old.name, stage=stage, channel="web")
                events.append(rederived(tenant, customer, stages))
                continue
            for _ in range(rng.randint(1, 3)):  # new steps, some earlier than those already there
                at = T0 + timedelta(hours=rng.randrange(0, 24 * 20))
                step = Step(id=f"i:{uuid.uuid4()}", at=at, kind="interaction", name="x", stage=rng.choice(STAGES),
                            channel="web")  # fmt: skip
                steps[step.id] = step
                events.append(recorded(tenant, customer, step))
        await apply(runtime, tenant, events, lane=round_ % 2)

    async with runtime.begin() as conn:
        await set_tenant(conn, tenant)
        pg = await driver(conn)
        rows = await pg.fetch(
            "SELECT customer_id, seq, stage, entered_at, exited_at, next_stage FROM visits ORDER BY customer_id, seq"
        )
        counts = await pg.fetch(
            "SELECT day, from_stage, to_stage, sum(count)::int AS n FROM transition_days GROUP BY 1, 2, 3"
        )
    expected_visits = []
    expected_counts: Counter[tuple[object, str, str]] = Counter()
    for customer in sorted(journeys):
        found = visits(journeys[customer].values())
        expected_visits += [
            (customer, seq, v.stage, v.entered_at, v.exited_at, v.next_stage) for seq, v in enumerate(found)
        ]
        expected_counts.update((at.date(), a, b) for a, b, at in transitions(found))
    assert [tuple(r) for r in rows] == expected_visits
    assert {(r["day"], r["from_stage"], r["to_stage"]): r["n"] for r in counts if r["n"]} == dict(expected_counts)


def interaction(tenant: uuid.UUID, customer: uuid.UUID, name: str, at: datetime) -> Envelope:
    data = {"interaction_id": str(uuid.uuid4()), "customer_id": str(customer), "name": name, "channel": "web",
            "source": "api", "external_id": None, "occurred_at": at.isoformat(), "properties": {}}  # fmt: skip
    return Envelope(type=c.INTERACTION_RECORDED, source="ingest", subject=data["interaction_id"], tenant_id=tenant,
                    data=data)  # fmt: skip


async def test_concurrent_transactions_recording_steps_of_the_same_customers_lose_none(runtime: AsyncEngine) -> None:
    rng = random.Random(3)
    tenant = uuid.uuid4()
    customers = [uuid.uuid4() for _ in range(4)]
    names = ("page_viewed", "checkout_started", "ticket_opened", "login")
    batches = [
        [interaction(tenant, rng.choice(customers), rng.choice(names), T0 + timedelta(hours=rng.randrange(500)))
         for _ in range(6)]
        for _ in range(16)
    ]  # fmt: skip
    timeline = Timeline(StageMaps())

    async def record(batch: list[Envelope], lane: int) -> None:
        async with runtime.connect() as conn:
            conn.info[LANE] = lane
            async with conn.begin():
                await set_tenant(conn, tenant)
                await timeline.on_events(conn, batch)

    # As the interactions and feedback consumers, or replicas of one, do: the same customers in parallel.
    await asyncio.gather(*(record(batch, lane=i % 2) for i, batch in enumerate(batches)))

    async with runtime.begin() as conn:
        await set_tenant(conn, tenant)
        pg = await driver(conn)
        steps = await journeys_of(conn, tenant, customers)
        rows = await pg.fetch("SELECT customer_id, seq, stage, entered_at, exited_at, next_stage FROM visits")
        counts = await pg.fetch("SELECT from_stage, to_stage, sum(count)::int AS n FROM transition_days GROUP BY 1, 2")
        current = {r["id"]: r["current_stage"] for r in await pg.fetch("SELECT id, current_stage FROM customers")}
    assert sum(len(s) for s in steps.values()) == sum(len(b) for b in batches)
    expected_counts: Counter[tuple[str, str]] = Counter()
    expected_visits = set()
    for customer, journey in steps.items():
        found = visits(journey)
        expected_visits |= {
            (customer, i, v.stage, v.entered_at, v.exited_at, v.next_stage) for i, v in enumerate(found)
        }
        expected_counts.update((a, b) for a, b, _ in transitions(found))
        assert current[customer] == found[-1].stage
    assert {tuple(r) for r in rows} == expected_visits
    assert {(r["from_stage"], r["to_stage"]): r["n"] for r in counts if r["n"]} == dict(expected_counts)
