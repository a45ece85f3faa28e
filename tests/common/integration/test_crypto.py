"""Crypto-shredding: PII sealed per customer, published in the clear while the key lives, unreadable after."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from nats.aio.client import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common import deadletters
from cxm_common.crypto import PII, KeyDestroyed, KeyRing, MasterKey, seal, unseal
from cxm_common.envelope import Envelope
from cxm_common.eventstore import append, load
from cxm_common.relay import Relay
from tests.common.factories import TENANT
from tests.common.integration.conftest import SERVICE


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing(MasterKey(MasterKey.generate()))


def test_a_sealed_value_opens_only_with_its_key_and_subject() -> None:
    key, subject = b"k" * 32, uuid.uuid4()
    token = seal(key, {"text": "Ça va ✓"}, subject)
    assert "Ça" not in token
    assert unseal(key, token, subject) == {"text": "Ça va ✓"}
    assert unseal(b"x" * 32, token, subject) is None
    assert unseal(key, token, uuid.uuid4()) is None
    assert unseal(None, token, subject) is None


async def test_pii_is_stored_sealed_and_published_in_the_clear(
    engine: AsyncEngine, nc: Client, stream: str, nats_prefix: str, keyring: KeyRing
) -> None:
    customer = uuid.uuid4()
    async with engine.begin() as conn:
        pii = await keyring.seal_pii(conn, TENANT, customer, {"text": "my email is a@b.c"})
        event = Envelope("kit.note.written.v1", "kit", "n-1", TENANT, {"customer_id": str(customer), PII: pii})
        await append(conn, "n-1", [event], 0)
        stored = await conn.scalar(text("SELECT data::text FROM events"))
    assert "a@b.c" not in stored
    await Relay(engine, nc.jetstream(), SERVICE, prefix=nats_prefix, keyring=keyring).publish_once()
    sub = await nc.jetstream().pull_subscribe("", stream=stream)
    [msg] = await sub.fetch(1, timeout=5)
    published = Envelope.from_json(msg.data)
    assert published.data == {"customer_id": str(customer), "text": "my email is a@b.c"}


async def test_after_the_key_is_destroyed_nothing_can_read_the_pii(engine: AsyncEngine, keyring: KeyRing) -> None:
    customer = uuid.uuid4()
    async with engine.begin() as conn:
        pii = await keyring.seal_pii(conn, TENANT, customer, {"name": "Ada"})
        await append(conn, "c", [Envelope("kit.c.updated.v1", "kit", "c", TENANT, {PII: pii})], 0)
        await keyring.destroy(conn, customer)
    async with engine.connect() as conn:
        [event] = await keyring.unseal_events(conn, await load(conn, "c"))
    assert event.data == {"name": None}
    with pytest.raises(KeyDestroyed):
        async with engine.begin() as conn:
            await keyring.seal_pii(conn, TENANT, customer, {"name": "again"})


async def test_erasing_a_customer_without_a_key_still_refuses_sealing_for_them(
    engine: AsyncEngine, keyring: KeyRing
) -> None:
    # A service that never sealed anything for the customer learns of the erasure before their data arrives.
    customer, other = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await keyring.destroy(conn, customer, TENANT)
    async with engine.begin() as conn:
        assert await keyring.erased(conn, [customer, other]) == {customer}
    with pytest.raises(KeyDestroyed):
        async with engine.begin() as conn:
            await keyring.seal_pii(conn, TENANT, customer, {"text": "in flight"})


async def test_a_handler_checking_for_an_erasure_waits_for_one_in_progress(
    engine: AsyncEngine, keyring: KeyRing
) -> None:
    customer = uuid.uuid4()
    async with engine.connect() as erasing:
        erasure = await erasing.begin()
        await keyring.destroy(erasing, customer, TENANT)
        async with engine.begin() as handling:
            check = asyncio.ensure_future(keyring.erased(handling, [customer]))
            await asyncio.sleep(0.3)
            assert not check.done()  # it waits for the erasure rather than reading the state before it
            await erasure.commit()
            assert await check == {customer}


async def test_erasing_a_customer_empties_the_dead_letters_that_mention_them(
    engine: AsyncEngine, keyring: KeyRing
) -> None:
    customer, other = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        for who in (customer, other):
            await deadletters.record(
                conn, consumer="kit-erasure", event_id=uuid.uuid4(), subject="kit.c.updated.v1", tenant_id=TENANT,
                payload=f'{{"customer_id": "{who}", "email": "ada@example.com"}}'.encode(), headers={"h": "v"},
                error="poison", deliveries=5,
            )  # fmt: skip
        await keyring.destroy(conn, customer, TENANT)
    async with engine.connect() as conn:
        rows = (
            await conn.execute(text("SELECT payload, headers, status FROM dead_letters WHERE consumer = 'kit-erasure'"))
        ).all()
    assert sorted((r.payload != "", r.status) for r in rows) == [(False, deadletters.ERASED), (True, deadletters.DEAD)]
    assert all(str(customer) not in r.payload and r.headers in ({}, {"h": "v"}) for r in rows)


def test_a_master_key_must_be_32_bytes() -> None:
    from cxm_common.crypto import MasterKeyError

    with pytest.raises(MasterKeyError):
        MasterKey("c2hvcnQ=")
