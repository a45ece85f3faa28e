"""The consumer runner: exactly-once effects over at-least-once delivery, poison isolated and redrivable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from nats.aio.client import Client
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_common import deadletters
from cxm_common.consumer import LANE, ConsumerRunner, Outcome, Subscription, TransientFailure
from cxm_common.envelope import Envelope
from cxm_common.eventstore import ConcurrencyError, append
from cxm_common.jetstream import subject_for
from cxm_common.relay import Relay, message
from tests.common.factories import event
from tests.common.integration.conftest import SERVICE


async def count_projection(conn: AsyncConnection, env: Envelope) -> None:
    """A read model: how many events each stream had applied; refuses events marked as poison."""
    if env.data.get("poison"):
        raise ValueError("cannot apply this event")
    await conn.execute(
        text("INSERT INTO counts (stream_id, n) VALUES (:s, 1) ON CONFLICT (stream_id) DO UPDATE SET n = counts.n + 1"),
        {"s": env.subject},
    )


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {r.stream_id: r.n for r in await conn.execute(text("SELECT stream_id, n FROM counts"))}


@pytest.fixture
def make_runner(engine: AsyncEngine, nc: Client, nats_prefix: str, stream: str) -> Callable[..., ConsumerRunner]:
    def make(handler=count_projection, **options: object) -> ConsumerRunner:
        sub = Subscription(name="counts", service=SERVICE, event_types=["kit.>"], handler=handler)
        defaults: dict[str, object] = {"max_deliver": 3, "backoff_s": (0.05, 0.05, 0.05), "fetch_timeout_s": 0.2}
        defaults.update(options)
        return ConsumerRunner(
            consumer="tester", subscription=sub, engine=engine, js=nc.jetstream(), prefix=nats_prefix, **defaults
        )

    return make


@pytest.fixture
async def running(stream: str) -> AsyncIterator[Callable[[ConsumerRunner], None]]:
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    def start(runner: ConsumerRunner) -> None:
        tasks.append(asyncio.create_task(runner.run(stop)))

    yield start
    stop.set()
    await asyncio.gather(*tasks)


async def publish(engine: AsyncEngine, nc: Client, prefix: str, events: list[Envelope]) -> None:
    """Append events (one stream each) and relay them to JetStream."""
    async with engine.begin() as conn:
        for e in events:
            await append(conn, e.subject, [e])
    while await Relay(engine, nc.jetstream(), SERVICE, prefix=prefix).publish_once():
        pass


async def wait_until(condition: Callable[[], object], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def test_applies_each_event_once(engine, nc, nats_prefix, make_runner, running) -> None:
    await publish(engine, nc, nats_prefix, [event(f"s-{i}") for i in range(50)])
    running(make_runner())

    async def all_applied() -> bool:
        return len(await counts(engine)) == 50

    await wait_until(all_applied)
    assert set((await counts(engine)).values()) == {1}


async def test_a_redelivered_event_changes_nothing(engine, nc, nats_prefix, make_runner) -> None:
    e = event("s-1")
    await publish(engine, nc, nats_prefix, [e])
    runner = make_runner()
    await runner.setup()
    # Deliver the same event again under another msg id, as a republish outside the duplicate window would.
    await nc.jetstream().publish(subject_for(e.type, nats_prefix), e.to_json(), headers={"Nats-Msg-Id": "other"})
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    msgs = await psub.fetch(2, timeout=5)
    assert await runner.handle_batch(msgs) == [Outcome.APPLIED, Outcome.DUPLICATE]
    assert await counts(engine) == {"s-1": 1}


async def test_a_crash_after_commit_but_before_ack_is_absorbed_on_redelivery(
    engine, nc, nats_prefix, make_runner
) -> None:
    await publish(engine, nc, nats_prefix, [event("s-1"), event("s-2")])
    runner = make_runner(ack_wait_s=1.0)
    await runner.setup()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    msgs = await psub.fetch(2, timeout=5)
    # Commit the effects but never ack: the process "died" between the two.
    from cxm_common.consumer import _Item

    await runner.apply([_Item(m, m.data, m.subject, dict(m.headers or {}), 1) for m in msgs])
    redelivered = await psub.fetch(2, timeout=5)
    assert [m.metadata.num_delivered for m in redelivered] == [2, 2]
    assert await runner.handle_batch(redelivered) == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert await counts(engine) == {"s-1": 1, "s-2": 1}


async def test_a_crash_before_commit_applies_the_event_on_redelivery(engine, nc, nats_prefix, make_runner) -> None:
    await publish(engine, nc, nats_prefix, [event("s-1")])
    crashed = False

    async def crash_once(conn: AsyncConnection, env: Envelope) -> None:
        nonlocal crashed
        await count_projection(conn, env)
        if not crashed:
            crashed = True
            raise asyncio.CancelledError  # the process dies mid-transaction

    runner = make_runner(handler=crash_once, ack_wait_s=1.0)
    await runner.setup()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    with pytest.raises(asyncio.CancelledError):
        await runner.handle_batch(await psub.fetch(1, timeout=5))
    assert await counts(engine) == {}
    assert await runner.handle_batch(await psub.fetch(1, timeout=5)) == [Outcome.APPLIED]
    assert await counts(engine) == {"s-1": 1}


async def test_a_poison_message_is_dead_lettered_after_max_deliver_while_others_flow(
    engine, nc, nats_prefix, make_runner, running
) -> None:
    events = [event(f"s-{i}") for i in range(20)]
    poison = event("bad", poison=True)
    await publish(engine, nc, nats_prefix, [*events[:10], poison, *events[10:]])
    runner = make_runner()
    running(runner)

    async def settled() -> bool:
        return len(await counts(engine)) == 20 and bool(await deadletters.list_dead_letters(engine))

    await wait_until(settled)
    [dead] = await deadletters.list_dead_letters(engine)
    assert dead.event_id == poison.id
    assert dead.consumer == runner.durable
    assert dead.deliveries == 3
    assert "cannot apply this event" in dead.error
    assert "bad" not in await counts(engine)


async def test_a_redriven_dead_letter_is_applied_once_the_handler_is_fixed(
    engine, nc, nats_prefix, make_runner
) -> None:
    poison = event("bad", poison=True)
    await publish(engine, nc, nats_prefix, [poison])
    runner = make_runner(max_deliver=1)
    await runner.setup()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    assert await runner.handle_batch(await psub.fetch(1, timeout=5)) == [Outcome.DEAD]

    async def fixed(conn: AsyncConnection, env: Envelope) -> None:
        await count_projection(conn, Envelope.from_dict({**env.to_dict(), "data": {"poison": False}}))

    fixed_runner = make_runner(handler=fixed)
    assert await deadletters.request_redrive(engine, consumer=fixed_runner.durable) == 1
    assert await fixed_runner.redrive_requested() == 1
    assert await counts(engine) == {"bad": 1}
    [row] = await deadletters.list_dead_letters(engine, status=None)
    assert row.status == deadletters.REDRIVEN
    assert await fixed_runner.redrive_requested() == 0


async def test_a_malformed_message_is_dead_lettered_at_once(engine, nc, nats_prefix, make_runner) -> None:
    runner = make_runner()
    await runner.setup()
    await nc.jetstream().publish(subject_for("kit.thing.happened.v1", nats_prefix), b"{not json")
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    assert await runner.handle_batch(await psub.fetch(1, timeout=5)) == [Outcome.DEAD]
    [dead] = await deadletters.list_dead_letters(engine)
    assert dead.error.startswith("invalid envelope")


@pytest.mark.fault
async def test_a_database_outage_delays_messages_but_never_dead_letters_them(
    nc, nats_prefix, stream, own_postgres
) -> None:
    from cxm_common.db import create_engine
    from tests.common.integration.conftest import create_kit_schema

    engine = create_engine(own_postgres.url, "kit")
    await create_kit_schema(engine)
    await publish(engine, nc, nats_prefix, [event("s-1"), event("s-2")])
    sub = Subscription(name="counts", service=SERVICE, event_types=["kit.>"], handler=count_projection)
    runner = ConsumerRunner(
        consumer="tester", subscription=sub, engine=engine, js=nc.jetstream(), prefix=nats_prefix,
        max_deliver=2, backoff_s=(0.2,), fetch_timeout_s=0.2,
    )  # fmt: skip
    own_postgres.stop("immediate")
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(2)  # several delivery attempts fail while the database is down
    own_postgres.start()
    try:

        async def applied() -> bool:
            try:
                return len(await counts(engine)) == 2
            except Exception:
                return False

        await wait_until(applied, timeout=20)
    finally:
        stop.set()
        await task
    assert await counts(engine) == {"s-1": 1, "s-2": 1}
    assert await deadletters.list_dead_letters(engine) == []
    await engine.dispose()


async def test_a_consumer_stopped_at_its_failpoints_applies_each_event_exactly_once(
    engine, nc, nats_prefix, make_runner
) -> None:
    from cxm_common import failpoints

    await publish(engine, nc, nats_prefix, [event("s-1"), event("s-2")])
    runner = make_runner(ack_wait_s=1.0)
    await runner.setup()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    for point in ("consumer.before_commit", "consumer.after_commit_before_ack"):
        failpoints.arm(f"{point}=raise")
        try:
            with pytest.raises(failpoints.FailpointError):
                await runner.handle_batch(await psub.fetch(2, timeout=5))
        finally:
            failpoints.arm("")
    # Rolled back at the first point, committed but never acked at the second: redelivered, absorbed.
    assert await runner.handle_batch(await psub.fetch(2, timeout=5)) == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    assert await counts(engine) == {"s-1": 1, "s-2": 1}


async def test_an_event_about_an_erased_customer_is_skipped_not_retried_or_dead_lettered(
    engine, nc, nats_prefix, make_runner
) -> None:
    from cxm_common.crypto import KeyDestroyed

    async def erased_meanwhile(conn: AsyncConnection, env: Envelope) -> None:
        await count_projection(conn, env)
        raise KeyDestroyed([env.subject])  # sealing their data found the key destroyed

    await publish(engine, nc, nats_prefix, [event("s-1")])
    runner = make_runner(handler=erased_meanwhile, ack_wait_s=1.0)
    await runner.setup()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    assert await runner.handle_batch(await psub.fetch(1, timeout=5)) == [Outcome.SKIPPED]
    assert await counts(engine) == {}
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM inbox")) == 1
    assert await deadletters.list_dead_letters(engine) == []


def make_batch_runner(engine, nc, nats_prefix, batch_handler) -> ConsumerRunner:
    sub = Subscription(name="batches", service=SERVICE, event_types=["kit.>"], batch_handler=batch_handler)
    return ConsumerRunner(
        consumer="tester", subscription=sub, engine=engine, js=nc.jetstream(), prefix=nats_prefix, batch_size=100
    )


async def fetch_all(runner: ConsumerRunner, nc: Client, count: int) -> list:
    await runner.setup()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    return await psub.fetch(count, timeout=5)


async def test_a_batch_handler_gets_each_tenant_once_with_its_events_in_arrival_order(
    engine, nc, nats_prefix, stream
) -> None:
    tenants = [uuid.UUID(int=2), uuid.UUID(int=1)]
    sent = [replace(event(f"s-{i}", i), tenant_id=tenants[i % 2]) for i in range(10)]
    await publish_as_is(nc, nats_prefix, sent)
    calls: list[tuple[uuid.UUID, list[int]]] = []

    async def record(conn: AsyncConnection, events: list[Envelope]) -> None:
        calls.append((events[0].tenant_id, [e.data["n"] for e in events]))

    runner = make_batch_runner(engine, nc, nats_prefix, record)
    outcomes = await runner.handle_batch(await fetch_all(runner, nc, 10))
    assert outcomes == [Outcome.APPLIED] * 10
    # Tenants in id order, each once; within a tenant, the order the events arrived in.
    assert calls == [(uuid.UUID(int=1), [1, 3, 5, 7, 9]), (uuid.UUID(int=2), [0, 2, 4, 6, 8])]


async def test_a_batch_that_lost_a_race_is_applied_again_whole_not_message_by_message(
    engine, nc, nats_prefix, stream
) -> None:
    await publish_as_is(nc, nats_prefix, [event(f"s-{i}", i) for i in range(5)])
    calls: list[int] = []

    async def racing(conn: AsyncConnection, events: list[Envelope]) -> None:
        calls.append(len(events))
        await conn.execute(text("INSERT INTO counts (stream_id, n) VALUES ('batch', 1)"))
        if len(calls) == 1:
            raise ConcurrencyError(["s-0"])  # another writer appended meanwhile

    runner = make_batch_runner(engine, nc, nats_prefix, racing)
    outcomes = await runner.handle_batch(await fetch_all(runner, nc, 5))
    assert outcomes == [Outcome.APPLIED] * 5
    assert calls == [5, 5]  # the first attempt rolled back, the second applied all five
    assert await counts(engine) == {"batch": 1}


async def publish_as_is(nc: Client, prefix: str, events: list[Envelope]) -> None:
    """Publish events straight to JetStream, as a relay would."""
    for e in events:
        subject, payload, headers = message(e, prefix)
        await nc.jetstream().publish(subject, payload, headers=headers)


async def test_a_batch_fetched_ahead_is_handed_back_on_shutdown_not_left_to_the_ack_deadline(
    engine, nc, nats_prefix, stream
) -> None:
    await publish_as_is(nc, nats_prefix, [event(f"s-{i}", i) for i in range(10)])
    entered, release, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    applied: list[int] = []

    async def slow(conn: AsyncConnection, events: list[Envelope]) -> None:
        entered.set()
        await release.wait()
        applied.extend(e.data["n"] for e in events)

    sub = Subscription(name="ahead", service=SERVICE, event_types=["kit.>"], batch_handler=slow)
    runner = ConsumerRunner(
        consumer="tester", subscription=sub, engine=engine, js=nc.jetstream(), prefix=nats_prefix, batch_size=5,
        ack_wait_s=300, fetch_timeout_s=0.5,
    )  # fmt: skip
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(entered.wait(), 10)

    async def both_batches_in_hand() -> bool:
        info = await nc.jetstream().consumer_info(runner.stream, runner.durable)
        return info.num_ack_pending == 10

    await wait_until(both_batches_in_hand)
    stop.set()
    release.set()
    await task
    assert applied == [0, 1, 2, 3, 4]  # the batch in hand is finished; the one fetched ahead is not applied
    # Handed back: delivered again at once, long before the 300 s ack deadline would have freed them.
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    again = await psub.fetch(5, timeout=5)
    assert [Envelope.from_json(m.data).data["n"] for m in again] == [5, 6, 7, 8, 9]
    assert {m.metadata.num_delivered for m in again} == {2}


async def test_lanes_commit_on_their_own_and_only_a_failed_lanes_messages_come_back(
    engine, nc, nats_prefix, stream
) -> None:
    await publish_as_is(nc, nats_prefix, [event(f"s-{i}", i) for i in range(8)])
    lanes_seen: set[int] = set()
    failed_once: list[str] = []

    async def per_stream(conn: AsyncConnection, events: list[Envelope]) -> None:
        lanes_seen.add(conn.info[LANE])
        for env in events:
            await count_projection(conn, env)
        if "s-3" in {e.subject for e in events} and not failed_once:
            failed_once.append("s-3")
            raise ConnectionResetError("the database went away")  # this lane only, this time only

    sub = Subscription(
        name="lanes", service=SERVICE, event_types=["kit.>"], batch_handler=per_stream, lanes=2,
        lane_key=lambda e: e.subject,
    )  # fmt: skip
    runner = ConsumerRunner(
        consumer="tester", subscription=sub, engine=engine, js=nc.jetstream(), prefix=nats_prefix, batch_size=100
    )
    msgs = await fetch_all(runner, nc, 8)
    failing = {m.data for m in msgs if sub.lane_of(Envelope.from_json(m.data)) == sub.lane_of(event("s-3", 3))}
    with pytest.raises(TransientFailure) as raised:
        await runner.handle_batch(msgs)
    assert raised.value.unsettled is not None
    assert {m.data for m in raised.value.unsettled} == failing and 0 < len(failing) < 8
    assert sum((await counts(engine)).values()) == 8 - len(failing)  # the other lane committed
    assert runner.applied == 8 - len(failing)  # and its messages were acked

    for msg in raised.value.unsettled:
        await msg.nak()
    psub = await nc.jetstream().pull_subscribe_bind(durable=runner.durable, stream=runner.stream)
    again = await psub.fetch(8, timeout=5)
    assert {m.data for m in again} == failing  # only the failed lane's messages are redelivered
    assert await runner.handle_batch(again) == [Outcome.APPLIED] * len(failing)
    assert await counts(engine) == {f"s-{i}": 1 for i in range(8)}
    assert lanes_seen == {0, 1}
