"""Group commit: concurrent single records share transactions, yet each request gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

from cxm_common.crypto import KeyRing, MasterKey
from cxm_common.db import create_engine
from cxm_common.migrations import upgrade
from cxm_ingest.domain.identity import TENANT_KEY
from cxm_ingest.domain.records import CustomerRef, FeedbackRecord, InvalidRecord
from cxm_ingest.groupcommit import GroupCommit, Overloaded
from cxm_ingest.handlers import Ingest
from cxm_ingest.identity import IdentityResolver
from cxm_ingest.service import SPEC as INGEST
from tests.ingest.integration.conftest import Stack


class CountingIngest(Ingest):
    """The real command, counting its transactions."""

    transactions = 0

    async def store(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.transactions += 1
        return await super().store(*args, **kwargs)


@pytest.fixture
async def ingest(database_url: str) -> AsyncIterator[CountingIngest]:
    await upgrade(database_url, "ingest", INGEST.migrations)
    engine = create_engine(database_url, "ingest")
    master = MasterKey(MasterKey.generate())
    keyring = KeyRing(master)
    yield CountingIngest(engine, keyring, IdentityResolver(master.derive("cxm-customer-keys"), keyring))
    await engine.dispose()


def feedback(text_: str, customer: str | None = None, external_id: str | None = None) -> FeedbackRecord:
    ref = CustomerRef(keys=((TENANT_KEY, customer),)) if customer else None
    return FeedbackRecord(channel="survey", source="api", external_id=external_id, customer=ref, text=text_)


async def stored(ingest: Ingest, tenant: uuid.UUID) -> int:
    async with ingest.engine.connect() as conn:
        return int(await conn.scalar(text("SELECT count(*) FROM feedback WHERE tenant_id = :t"), {"t": tenant}) or 0)


async def test_concurrent_records_share_transactions_and_each_gets_its_own_id(ingest: CountingIngest) -> None:
    tenant = uuid.uuid4()
    group = GroupCommit(ingest, flushes_per_tenant=1)
    answers = await asyncio.gather(
        *(group.store(tenant, feedback(f"text {i}", customer=f"c-{i % 7}")) for i in range(60))
    )
    assert len({record_id for record_id, _ in answers}) == 60
    assert not any(duplicate for _, duplicate in answers)
    assert await stored(ingest, tenant) == 60
    assert ingest.transactions < 60
    async with ingest.engine.connect() as conn:
        customers = await conn.scalar(text("SELECT count(*) FROM customers WHERE tenant_id = :t"), {"t": tenant})
    assert customers == 7


async def test_a_repeated_source_id_in_one_group_is_stored_once_and_answered_as_a_duplicate(
    ingest: CountingIngest,
) -> None:
    tenant = uuid.uuid4()
    group = GroupCommit(ingest, flushes_per_tenant=1)
    answers = await asyncio.gather(*(group.store(tenant, feedback("same", external_id="resp-1")) for _ in range(5)))
    assert len({record_id for record_id, _ in answers}) == 1
    assert sorted(duplicate for _, duplicate in answers) == [False, True, True, True, True]
    assert await stored(ingest, tenant) == 1


async def test_a_record_that_fails_the_shared_transaction_fails_alone(ingest: CountingIngest) -> None:
    tenant = uuid.uuid4()
    group = GroupCommit(ingest, flushes_per_tenant=1)
    # Passes the record checks, but cannot be serialised for sealing: the group's transaction fails.
    poison = FeedbackRecord(channel="survey", source="api", external_id=None, customer=None, text="x",
                            metadata={"bad": "\ud800"})  # fmt: skip
    results = await asyncio.gather(
        *(group.store(tenant, feedback(f"fine {i}")) for i in range(10)),
        group.store(tenant, poison),
        *(group.store(tenant, feedback(f"also fine {i}")) for i in range(10)),
        return_exceptions=True,
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and results[10] is failures[0]
    assert await stored(ingest, tenant) == 20


async def test_a_bad_record_is_refused_before_it_joins_a_group(ingest: CountingIngest) -> None:
    group = GroupCommit(ingest)
    with pytest.raises(InvalidRecord):
        await group.store(uuid.uuid4(), feedback("nul \x00 inside"))
    assert ingest.transactions == 0


async def test_too_many_waiting_records_are_refused_rather_than_queued(ingest: CountingIngest) -> None:
    group = GroupCommit(ingest, max_waiting=0)
    with pytest.raises(Overloaded):
        await group.store(uuid.uuid4(), feedback("one too many"))


async def test_many_concurrent_requests_through_the_gateway_are_each_answered_and_stored_once(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    bodies = [
        {"channel": "chat", "customer": {"id": f"crm-{i % 5}"}, "text": f"message {i}", "external_id": f"m-{i % 40}"}
        for i in range(80)
    ]
    answers = await asyncio.gather(*(stack.client.post("/v1/feedback", json=b, headers=headers) for b in bodies))
    assert {a.status_code for a in answers} == {202}
    ids = [a.json()["id"] for a in answers]
    assert len(set(ids)) == 40
    assert sum(a.json()["duplicate"] for a in answers) == 40
    for i, record_id in enumerate(ids[:40]):
        assert ids[i + 40] == record_id
        got = (await stack.client.get(f"/v1/feedback/{record_id}", headers=headers)).json()
        assert got["text"] in {f"message {i}", f"message {i + 40}"}  # whichever of the two arrived first
