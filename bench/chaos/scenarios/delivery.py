"""F3, F4 and F5: the same delivery many times, events of one aggregate out of order, and a poison message."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats

from bench.chaos import reconcile
from bench.chaos.reconcile import Expected
from bench.chaos.scenario import Outcome, Run, reconcile_into, since, standard_checks
from bench.chaos.system import ChaosSystem
from bench.chaos.traffic import (
    Request,
    Tenant,
    Traffic,
    all_at_once,
    customer_update,
    feedback_api,
    feedback_webhook,
    interaction_api,
    one_by_one,
    paced,
)
from cxm_common.crypto import KeyRing, MasterKey
from cxm_common.db import ALL_TENANTS, create_engine, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import row_to_envelope
from cxm_common.jetstream import HEADER_MSG_ID
from cxm_common.relay import message

SEQUENTIAL = 5
CONCURRENT = 20


async def duplicates(run: Run, outcome: Outcome) -> None:
    """F3: one delivery ×5 in sequence and another ×20 at once, at every layer that dedupes: webhook delivery ids,
    `Idempotency-Key`, the source's own ids, consumers' inboxes (JetStream redelivering under fresh message ids)
    and JetStream's duplicate window (`cxm republish`)."""
    tenant = await run.tenant("f3")
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f3")
    now = datetime.now(UTC)
    pairs: dict[str, tuple[Request, Request]] = {
        "webhook delivery id": (feedback_webhook(tenant, rid, 1, "dup-1"), feedback_webhook(tenant, rid, 2, "dup-2")),
        "Idempotency-Key": (
            feedback_api(tenant, rid, 3, "dup-3", idempotency_key=f"{rid}-3"),
            feedback_api(tenant, rid, 4, "dup-4", idempotency_key=f"{rid}-4"),
        ),
        "feedback external id": (feedback_api(tenant, rid, 5, "dup-5"), feedback_api(tenant, rid, 6, "dup-6")),
        "interaction external id": (
            interaction_api(tenant, rid, 7, "dup-7", "login", now - timedelta(minutes=2)),
            interaction_api(tenant, rid, 8, "dup-8", "login", now - timedelta(minutes=1)),
        ),
    }
    traffic = Traffic()
    answers: dict[str, Any] = {}
    for layer, (first, second) in pairs.items():
        in_sequence = await one_by_one(run.session, run.gateway, [first] * SEQUENTIAL)
        at_once = await all_at_once(run.session, run.gateway, [second] * CONCURRENT)
        traffic.extend(in_sequence)
        traffic.extend(at_once)
        answers[layer] = {"in_sequence": in_sequence.statuses(), "at_once": at_once.statuses(),
                          "ids_named": len(_ids_named(in_sequence)) + len(_ids_named(at_once))}  # fmt: skip
    expected = Expected.of(traffic)
    sent_twice = len(pairs) * (SEQUENTIAL - 1 + CONCURRENT - 1)
    drained = await reconcile.drained(run.system, expected, run.budget.drain_timeout_s)
    outcome.check("the first copies drained", drained is not None)
    # Below the HTTP edge: JetStream redelivers under fresh message ids (as after a lost ack or a restored
    # stream), so only the consumers' inboxes stand between these copies and a second effect.
    events = await _stored_events(run.system, list(expected.feedback) + list(expected.interactions))
    redelivered = await _publish_copies(run.system, events)
    idle = await reconcile.consumers_idle(run.system, run.budget.drain_timeout_s)
    outcome.check("consumers took every redelivered copy", idle is not None)
    # `cxm republish`: the relay publishes the stored events again under their own ids; JetStream drops them.
    republished = await run.system.republish("ingest", base.positions["ingest"])
    await reconcile.outboxes_empty(run.system, run.budget.drain_timeout_s)
    await reconcile.consumers_idle(run.system, run.budget.drain_timeout_s)
    figures = await reconcile_into(
        run, outcome, base, traffic, expected, [tenant.id],
        duplicates_sent=sent_twice + redelivered + len(events), injected={"ingest": redelivered},
    )  # fmt: skip
    outcome.extra.update({"answers": answers, "http_copies": sent_twice, "redelivered_copies": redelivered,
                          "republished": republished})  # fmt: skip
    outcome.check("every copy's answer names the same record",
                  all(a["ids_named"] <= 2 for a in answers.values()), str(answers))  # fmt: skip
    outcome.check("stored once: one record per delivery", figures["stored"] == len(pairs) * 2,
                  f"{figures['stored']} stored for {len(pairs) * 2} deliveries")  # fmt: skip
    standard_checks(outcome, figures)


def _ids_named(traffic: Traffic) -> set[str]:
    """The record ids the answers name (JSON answers' `id`; webhook answers name none)."""
    named = set()
    for sent in traffic.sent:
        try:
            body = json.loads(sent.body or b"{}")
        except ValueError:
            continue
        if isinstance(body, dict) and "id" in body:
            named.add(str(body["id"]))
    return named


async def _stored_events(system: ChaosSystem, records: list[uuid.UUID]) -> list[Envelope]:
    """The ingest events of these records as the relay publishes them (personal data opened)."""
    engine = create_engine(system.database_url, "ingest", pool_size=1, max_overflow=0)
    keyring = KeyRing(MasterKey(system.master_key))
    try:
        async with engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            from sqlalchemy import text

            rows = (
                await conn.execute(
                    text("SELECT * FROM events WHERE stream_id = ANY(:ids) ORDER BY position"),
                    {"ids": [str(r) for r in records]},
                )
            ).all()
            return await keyring.unseal_events(conn, [row_to_envelope(r) for r in rows])
    finally:
        await engine.dispose()


async def _publish_copies(system: ChaosSystem, events: list[Envelope]) -> int:
    """Publish each event again ×5 in sequence and ×20 at once, each copy under a fresh message id."""
    nc = await nats.connect(system.nats_url)
    try:
        js = nc.jetstream()
        copies = 0
        for event in events:
            subject, payload, headers = message(event)

            async def copy(headers: dict[str, str] = headers, subject: str = subject, payload: bytes = payload) -> None:
                await js.publish(subject, payload, headers={**headers, HEADER_MSG_ID: str(uuid.uuid4())})

            for _ in range(SEQUENTIAL):
                await copy()
            await asyncio.gather(*(copy() for _ in range(CONCURRENT)))
            copies += SEQUENTIAL + CONCURRENT
        return copies
    finally:
        await nc.close()


UPDATES: list[dict[str, Any]] = [
    {"segment": "bronze", "value": 10},
    {"segment": "silver", "team": "apac"},
    {"value": 250, "team": "emea"},
    {"segment": "gold", "plan": "pro"},
]
"""A customer's attribute updates, each naming some fields: only the newest value of each field may survive."""
STEPS = ("page_viewed", "pricing_viewed", "checkout_started", "order_placed", "signup_completed")
CUSTOMER = "ooo-1"


async def out_of_order(run: Run, outcome: Outcome) -> None:
    """F4: one customer's attribute updates and interactions reach the consumers in reverse order (as from two
    relay replicas, or a redelivery overtaking); every projection must equal the in-order one."""
    in_order, reversed_ = await run.tenant("f4-in-order"), await run.tenant("f4-reversed")
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f4")
    start = datetime.now(UTC) - timedelta(hours=2)
    traffic = Traffic()
    traffic.extend(await one_by_one(run.session, run.gateway, _script(in_order, rid, start)))
    expected = Expected.of(traffic)
    await reconcile.drained(run.system, expected, run.budget.drain_timeout_s)
    await reconcile.consumers_idle(run.system, run.budget.drain_timeout_s)
    # The other tenant's events wait in the outbox while the publisher is frozen; then they are published newest
    # first, and the publisher, thawed, sends them all again in order (JetStream drops those copies).
    publisher = run.system.processes["ingest-publish"]
    publisher.pause()
    try:
        traffic.extend(await one_by_one(run.session, run.gateway, _script(reversed_, rid, start)))
        waiting = await _outbox_events(run.system, reversed_.id)
        await _publish(run.system, list(reversed(waiting)))
    finally:
        publisher.resume()
    expected = Expected.of(traffic)
    figures = await reconcile_into(run, outcome, base, traffic, expected, [in_order.id, reversed_.id])
    await reconcile.consumers_idle(run.system, run.budget.drain_timeout_s)
    seen_in_order = await _projections(run, in_order)
    seen_reversed = await _projections(run, reversed_)
    wanted = _merged(UPDATES)
    outcome.extra.update({"published_newest_first": len(waiting), "in_order": seen_in_order,
                          "reversed": seen_reversed, "attributes_in_order": wanted})  # fmt: skip
    outcome.check("events were published newest first", len(waiting) >= len(UPDATES) + len(STEPS), str(len(waiting)))
    outcome.check("the in-order projections hold the newest value of every attribute",
                  _attributes_match(seen_in_order, wanted), json.dumps(seen_in_order, default=str))  # fmt: skip
    for name in seen_in_order:
        outcome.check(f"{name}: out of order equals in order", seen_reversed[name] == seen_in_order[name],
                      f"in order {seen_in_order[name]} vs reversed {seen_reversed[name]}")  # fmt: skip
    standard_checks(outcome, figures)


def _script(tenant: Tenant, rid: str, start: datetime) -> list[Request]:
    """The customer's attribute updates, then their interactions an hour apart."""
    requests = [customer_update(tenant, CUSTOMER, attributes) for attributes in UPDATES]
    requests += [interaction_api(tenant, f"{rid}-{tenant.tag}", n, CUSTOMER, name, start + timedelta(minutes=10 * n))
                 for n, name in enumerate(STEPS)]  # fmt: skip
    return requests


def _merged(updates: list[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for update in updates:
        merged.update(update)
    return merged


def _attributes_match(seen: dict[str, Any], wanted: dict[str, Any]) -> bool:
    insight, journey, actions = seen["insight customer"], seen["journey profile"], seen["actions profile"]
    return (
        all(insight.get(k) == v for k, v in wanted.items())
        and (journey["segment"], journey["value"]) == (wanted["segment"], wanted["value"])
        and (actions["segment"], actions["value"], actions["team"])
        == (wanted["segment"], wanted["value"], wanted["team"])
    )


async def _projections(run: Run, tenant: Tenant) -> dict[str, Any]:
    """What each service holds about the customer: attributes, and the journey through the API."""
    async with run.session.get(f"{run.gateway}/v1/customers/{CUSTOMER}", headers=tenant.auth) as response:
        customer = uuid.UUID((await response.json())["id"])
    async with run.session.get(f"{run.gateway}/v1/journeys/customers/{customer}", headers=tenant.auth) as response:
        journey = await response.json()
    conn = await run.system.db()
    try:
        insight = await conn.fetchval("SELECT attributes::text FROM insight.customers WHERE id = $1", customer)
        profile = await conn.fetchrow("SELECT segment, value FROM journey.profiles WHERE id = $1", customer)
        actions = await conn.fetchrow("SELECT segment, value, team FROM actions.profiles WHERE customer_id = $1",
                                      customer)  # fmt: skip
    finally:
        await conn.close()
    steps = journey.get("steps") or journey.get("timeline") or []
    return {
        "insight customer": json.loads(insight) if insight else {},
        "journey profile": dict(profile) if profile else {"segment": None, "value": None},
        "actions profile": dict(actions) if actions else {"segment": None, "value": None, "team": None},
        "journey": {k: v for k, v in journey.items() if k not in ("steps", "timeline", "customer_id", "risk")},
        "journey steps": [(s.get("name"), s.get("stage")) for s in steps],
    }


async def _outbox_events(system: ChaosSystem, tenant: uuid.UUID) -> list[Envelope]:
    """A tenant's events waiting in ingest's outbox, in append order, as the relay would publish them."""
    from sqlalchemy import text

    engine = create_engine(system.database_url, "ingest", pool_size=1, max_overflow=0)
    keyring = KeyRing(MasterKey(system.master_key))
    try:
        async with engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = (
                await conn.execute(
                    text("SELECT e.* FROM outbox o JOIN events e USING (position) WHERE e.tenant_id = :t "
                         "ORDER BY e.position"),
                    {"t": tenant},
                )
            ).all()  # fmt: skip
            return await keyring.unseal_events(conn, [row_to_envelope(r) for r in rows])
    finally:
        await engine.dispose()


async def _publish(system: ChaosSystem, events: list[Envelope]) -> None:
    """Publish events as the relay does (same subjects, headers and message ids), in the order given."""
    nc = await nats.connect(system.nats_url)
    try:
        js = nc.jetstream()
        for event in events:
            subject, payload, headers = message(event)
            await js.publish(subject, payload, headers=headers)
    finally:
        await nc.close()


MAX_DELIVER = 5
"""The consumers' `max_deliver` (the kit's default, which the harness keeps)."""


async def poison(run: Run, outcome: Outcome) -> None:
    """F5: insight's handler fails on one feedback every time (the database refuses its analysis), and a message
    that is not an envelope at all arrives: both are dead-lettered, the rest flows, and a redrive applies the
    feedback once its cause is fixed."""
    tenant = await run.tenant("f5")
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f5")
    count = 30 if run.quick else 60
    requests = [feedback_api(tenant, rid, n, f"poison-{n % 10}") for n in range(count)]
    bad = requests[0]
    assert bad.record is not None
    trigger = f"chaos_poison_{rid.replace('-', '_')}"
    conn = await run.system.db()
    try:
        await conn.execute(
            f"CREATE FUNCTION insight.{trigger}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.feedback_id = '{bad.record}' THEN RAISE EXCEPTION 'chaos: this feedback cannot be stored'; "
            f"END IF; RETURN NEW; END $$; "
            f"CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON insight.analyses "
            f"FOR EACH ROW EXECUTE FUNCTION insight.{trigger}()"
        )  # fmt: skip
    finally:
        await conn.close()
    began = time.monotonic()
    try:
        traffic = await paced(run.session, run.gateway, lambda n: requests[n], rate=run.budget.rate,
                              seconds=count / run.budget.rate + 1, max_count=count)  # fmt: skip
        garbage_id = str(uuid.uuid4())
        await _publish_raw(run.system, "ingest.feedback.received.v1", b"{not an envelope", garbage_id)
        expected = Expected.of(traffic)
        others = Expected(feedback={k: v for k, v in expected.feedback.items() if k != bad.record})
        others_done = await reconcile.drained(run.system, others, run.budget.drain_timeout_s)
        outcome.recovery_s["others_analysed"] = since(began) if others_done is not None else None
        bad_event = await _event_id(run.system, bad.record)
        letter = await _dead_letter(run.system, bad_event, run.budget.drain_timeout_s)
        outcome.recovery_s["poison_dead_lettered"] = since(began) if letter else None
        garbage = await _dead_letter(run.system, uuid.UUID(garbage_id), 10)
        listed = await run.system.dead_letters("insight")
        gauge = await _dead_letter_gauge(run, "insight_feedback", at_least=2, timeout_s=15)
    finally:
        conn = await run.system.db()
        try:
            await conn.execute(f"DROP TRIGGER {trigger} ON insight.analyses; DROP FUNCTION insight.{trigger}()")
        finally:
            await conn.close()
    redriven_at = time.monotonic()
    if letter:
        await run.system.redrive("insight", "insight_feedback", [letter["id"]])
    figures = await reconcile_into(run, outcome, base, traffic, expected, [tenant.id], injected={"ingest": 1})
    outcome.recovery_s["redrive_applied"] = since(redriven_at) if figures["drained_in_s"] is not None else None
    after = await _dead_letter(run.system, bad_event, 0)
    outcome.extra.update({"poison": str(bad.record), "dead_letter": _shown(letter), "garbage": _shown(garbage),
                          "listed_by_cli": len(listed), "gauge": gauge, "after_redrive": _shown(after)})  # fmt: skip
    outcome.check(f"the poison was dead-lettered after {MAX_DELIVER} deliveries",
                  bool(letter) and letter["deliveries"] == MAX_DELIVER, _shown(letter))  # fmt: skip
    outcome.check("a message that is no envelope was dead-lettered at once",
                  bool(garbage) and garbage["deliveries"] == 1, _shown(garbage))  # fmt: skip
    outcome.check("every other message was applied while the poison was retried",
                  others_done is not None and outcome.recovery_s["others_analysed"] is not None
                  and (outcome.recovery_s["poison_dead_lettered"] or 0) >= outcome.recovery_s["others_analysed"],
                  str(outcome.recovery_s))  # fmt: skip
    outcome.check("visible: the dead-letter list (`cxm dead-letters list`) shows both",
                  {str(bad_event), garbage_id} <= {d["event_id"] for d in listed}, f"{len(listed)} listed")  # fmt: skip
    outcome.check("counted: insight's cxm_dead_letters gauge", gauge is not None and gauge >= 2, str(gauge))
    outcome.check("the redrive applied it once its cause was fixed",
                  bool(after) and after["status"] == "redriven", _shown(after))  # fmt: skip
    standard_checks(outcome, figures)


def _shown(letter: dict[str, Any] | None) -> str:
    if not letter:
        return "none"
    return f"{letter['status']} after {letter['deliveries']} deliveries: {str(letter['error'])[:120]}"


async def _event_id(system: ChaosSystem, record: uuid.UUID) -> uuid.UUID:
    conn = await system.db()
    try:
        return await conn.fetchval("SELECT id FROM ingest.events WHERE stream_id = $1", str(record))  # type: ignore[no-any-return]
    finally:
        await conn.close()


async def _dead_letter(system: ChaosSystem, event_id: uuid.UUID, timeout_s: float) -> dict[str, Any] | None:
    """Insight's dead letter of an event once there is one (waiting up to `timeout_s`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        conn = await system.db()
        try:
            row = await conn.fetchrow(
                "SELECT id, status, deliveries, error FROM insight.dead_letters WHERE event_id = $1", event_id
            )
        finally:
            await conn.close()
        if row is not None or time.monotonic() >= deadline:
            return dict(row) if row else None
        await asyncio.sleep(0.25)


async def _dead_letter_gauge(run: Run, consumer: str, *, at_least: int, timeout_s: float) -> float | None:
    """Insight's `cxm_dead_letters` gauge for a consumer, once it reaches `at_least`."""
    url = f"{run.system.processes['insight'].url}/metrics"
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        async with run.session.get(url) as response:
            for line in (await response.text()).splitlines():
                if line.startswith("cxm_dead_letters{") and f'consumer="{consumer}"' in line:
                    value = float(line.rsplit(" ", 1)[1])
        if value is not None and value >= at_least:
            break
        await asyncio.sleep(0.5)
    return value


async def _publish_raw(system: ChaosSystem, subject: str, payload: bytes, msg_id: str) -> None:
    nc = await nats.connect(system.nats_url)
    try:
        await nc.jetstream().publish(subject, payload, headers={HEADER_MSG_ID: msg_id})
    finally:
        await nc.close()
