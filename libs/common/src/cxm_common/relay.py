"""The publisher: moves appended events from the outbox to JetStream, with `Nats-Msg-Id` = event id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common import failpoints
from cxm_common.aio import sleep_or_stop
from cxm_common.crypto import KeyRing
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.eventstore import row_to_envelope
from cxm_common.jetstream import HEADER_MSG_ID, HEADER_TENANT, HEADER_TRACEPARENT, HEADER_TYPE, subject_for
from cxm_common.observability import OUTBOX_BACKLOG, RELAY_LAG, RELAY_PUBLISHED

log = logging.getLogger(__name__)

# Rows are deleted as they are claimed, but the delete commits only once JetStream has acked them: a failed publish
# or a crash rolls it back and leaves them in the outbox, so they are published again with the same msg id and the
# stream's duplicate window absorbs them. No cursor is kept, so a transaction that commits late (a smaller position
# becoming visible after larger ones) is simply picked up on the next pass: nothing is ever skipped. SKIP LOCKED lets
# several relay replicas share one outbox. Each event's data key comes with it (a NULL key: destroyed, or none).
# `= ANY(ARRAY(…))` makes the delete an index lookup of the claimed rows: `IN (…)` lets the planner hash-join a scan
# of the whole outbox, which grows with the backlog. The key is a subquery per event for the same reason: as a join,
# row-level security's estimates made the planner scan every key once per event.
_CLAIM_SQL = """
    WITH claimed AS (
        DELETE FROM outbox
        WHERE position = ANY(ARRAY(SELECT position FROM outbox ORDER BY position LIMIT $1 FOR UPDATE SKIP LOCKED))
        RETURNING position
    )
    SELECT e.position, e.id, e.stream_id, e.version, e.type, e.source, e.tenant_id, e.time, e.recorded_at,
           e.correlation_id, e.causation_id, e.data::text AS data, e.traceparent,
           (SELECT k.wrapped FROM crypto_keys k WHERE k.subject_id = (e.data #>> '{_pii,subject}')::uuid) AS wrapped
    FROM claimed o
    JOIN events e ON e.position = o.position
    ORDER BY e.position
"""
_BACKLOG_SQL = text("SELECT count(*) FROM outbox")
_ANY_SQL = "SELECT EXISTS (SELECT 1 FROM outbox)"


class _Row:
    """Attribute access over an asyncpg record, as `row_to_envelope` expects."""

    __slots__ = ("_record",)

    def __init__(self, record: Any) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        return self._record[name]


def message(envelope: Envelope, prefix: str = "") -> tuple[str, bytes, dict[str, str]]:
    """The subject, payload and headers an event is published with (`Nats-Msg-Id` = event id)."""
    headers = {HEADER_MSG_ID: str(envelope.id), HEADER_TENANT: str(envelope.tenant_id), HEADER_TYPE: envelope.type}
    if envelope.traceparent:
        headers[HEADER_TRACEPARENT] = envelope.traceparent
    return subject_for(envelope.type, prefix), envelope.to_json(), headers


async def requeue(engine: AsyncEngine, *, since: datetime | None = None, after_position: int = 0) -> int:
    """Queue stored events for publishing again (`cxm republish`); JetStream dedupes those it still holds."""
    where = "position > :after" + (" AND recorded_at >= :since" if since else "")
    async with engine.begin() as conn:
        await set_tenant(conn, ALL_TENANTS)
        result = await conn.execute(
            text(f"INSERT INTO outbox (position) SELECT position FROM events WHERE {where} ON CONFLICT DO NOTHING"),
            {"after": after_position, "since": since},
        )
        return result.rowcount or 0


class Relay:
    """Publishes the outbox of one service's schema to JetStream until stopped."""

    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        service: str,
        *,
        prefix: str = "",
        batch_size: int = 1000,
        idle_poll_s: float = 0.02,
        max_idle_poll_s: float = 0.1,
        publish_timeout_s: float = 5.0,
        keyring: KeyRing | None = None,
    ) -> None:
        self.engine = engine
        self.js = js
        self.service = service
        self.prefix = prefix
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.max_idle_poll_s = max(idle_poll_s, max_idle_poll_s)
        self.publish_timeout_s = publish_timeout_s
        self.keyring = keyring
        self._wake = asyncio.Event()
        self.published = 0

    def wake(self) -> None:
        """Ask for a pass now (called after a commit in the same process to cut latency)."""
        self._wake.set()

    async def publish_once(self, *, look_first: bool = True) -> int:
        """Publish one batch from the outbox and return how many events it published.

        With `look_first`, an idle outbox costs one round trip, not a transaction; a caller that knows events wait
        (a commit woke it, or the last pass was full) skips the look.
        """
        if look_first:
            async with self.engine.connect() as conn:
                if not await (await driver(conn)).fetchval(_ANY_SQL):
                    return 0
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            pg = await driver(conn)
            rows = await pg.fetch(_CLAIM_SQL, self.batch_size)
            if not rows:
                return 0
            envelopes = [row_to_envelope(_Row(row)) for row in rows]
            if self.keyring is not None:
                # Other services get the plain text; each seals it again with keys of its own.
                envelopes = self.keyring.open_events(envelopes, [row["wrapped"] for row in rows])
            futures = []
            for envelope in envelopes:
                subject, payload, headers = message(envelope, self.prefix)
                futures.append(await self.js.publish_async(subject, payload, headers=headers))
            await asyncio.wait_for(asyncio.gather(*futures), timeout=self.publish_timeout_s)
            await failpoints.reach("relay.after_publish_before_mark")  # acked, but the delete not yet committed
        self._observe(envelopes)
        return len(envelopes)

    def _observe(self, envelopes: Sequence[Envelope]) -> None:
        now = time.time()
        lag = RELAY_LAG.labels(self.service)
        for envelope in envelopes:
            if envelope.recorded_at is not None:
                lag.observe(max(0.0, now - envelope.recorded_at.timestamp()))
        RELAY_PUBLISHED.labels(self.service).inc(len(envelopes))
        self.published += len(envelopes)

    async def backlog(self) -> int:
        """Return how many events wait in the outbox."""
        async with self.engine.connect() as conn:
            return int(await conn.scalar(_BACKLOG_SQL) or 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set, polling briefly when idle and backing off while a dependency is down."""
        failures = 0
        idle = 0
        last_backlog_check = 0.0
        waiting = False  # known to have events waiting: a commit woke us, or the last pass was full
        while not stop.is_set():
            self._wake.clear()  # before the pass: a commit during it must wake the wait below
            try:
                count = await self.publish_once(look_first=not waiting)
                failures = 0
            except Exception as exc:  # any failure leaves the rows in the outbox for the next pass
                waiting = False
                failures += 1
                delay = min(5.0, 0.1 * 2**failures)
                log.warning("relay pass failed; retrying in %.1fs: %r", delay, exc)
                await sleep_or_stop(stop, delay)
                continue
            if time.monotonic() - last_backlog_check > 5:
                last_backlog_check = time.monotonic()
                try:
                    OUTBOX_BACKLOG.labels(self.service).set(await self.backlog())
                except Exception:  # the gauge is advisory; the next pass reports the failure
                    pass
            waiting = count == self.batch_size
            if count < self.batch_size:
                # Poll less often while nothing comes; a commit in this process wakes the relay at once.
                idle = 0 if count else idle + 1
                delay = min(self.max_idle_poll_s, self.idle_poll_s * 2 ** min(idle, 10))
                wake = asyncio.ensure_future(self._wake.wait())
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait({wake, stopping}, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                wake.cancel()
                stopping.cancel()
                if wake.done() and not wake.cancelled():
                    idle = 0
                    waiting = True
