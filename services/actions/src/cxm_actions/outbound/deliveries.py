"""Deliveries: queued in the consumers' transactions, then sent by a worker, signed, retried and logged.

At least once: a delivery is leased (its `next_attempt_at` pushed past the send timeout, its attempt counted) and
committed before the request goes out, and the outcome is recorded after. A process that dies in between leaves
the lease to expire, and the delivery is sent again with the same `webhook-id` for the receiver to dedupe.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cxm_actions.outbound import subscriptions
from cxm_actions.outbound.event_types import wanted
from cxm_actions.outbound.policy import BACKOFF_S, JITTER, Outcome, outcome, printable, retry_delay, truncate
from cxm_actions.outbound.signing import webhook_headers
from cxm_common.crypto import KeyRing, unseal
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_common.ids import uuid7

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "cxm_outbound_deliveries_total",
    "Webhook delivery attempts by outcome (delivered, retried, failed, disabled).",
    ["outcome"],
)
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


def webhook_body(event: Envelope) -> bytes:
    """What a receiver gets: the event without the envelope's internal fields nor data keys starting with `_`."""
    return orjson.dumps(
        {
            "id": str(event.id),
            "type": event.type,
            "time": event.time.isoformat(),
            "tenant_id": str(event.tenant_id),
            "subject": event.subject,
            "data": {k: v for k, v in event.data.items() if not k.startswith("_")},
        }
    )


# --- enqueue ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Active:
    """An active subscription as the enqueue step needs it."""

    id: uuid.UUID
    event_types: tuple[str, ...]


@dataclass
class SubscriptionCache:
    """Each tenant's active subscriptions, kept `ttl_s`: most events match none, and that costs no query."""

    ttl_s: float = 1.0
    max_tenants: int = 100_000
    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, uuid.UUID], tuple[float, list[Active]]] = field(default_factory=dict)
    _forgotten: int = 0

    async def active(self, conn: AsyncConnection, tenant: uuid.UUID) -> list[Active]:
        """The tenant's active subscriptions, from memory when fresh."""
        key = (str(conn.engine.url), tenant)
        now = self.clock()
        cached = self._entries.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        forgotten = self._forgotten
        rows = await (await driver(conn)).fetch(
            "SELECT id, event_types FROM subscriptions WHERE tenant_id = $1 AND status = 'active'", tenant
        )
        found = [Active(r["id"], tuple(r["event_types"])) for r in rows]
        if len(self._entries) >= self.max_tenants:
            self._entries.clear()
        # A change committed while the query ran may be missing from its result: use it, but do not keep it.
        if forgotten == self._forgotten:
            self._entries[key] = (now + self.ttl_s, found)
        return found

    def forget(self, tenant: uuid.UUID) -> None:
        """Drop a tenant's entry (its subscriptions changed in this process)."""
        self._forgotten += 1
        for key in [k for k in self._entries if k[1] == tenant]:
            del self._entries[key]


CACHE = SubscriptionCache()

_ENQUEUE_SQL = """
    INSERT INTO deliveries (id, tenant_id, subscription_id, event_id, event_type, payload, next_attempt_at, created_at)
    SELECT id, tenant_id, subscription_id, event_id, event_type, payload, $7, $7
    FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[])
         AS t(id, tenant_id, subscription_id, event_id, event_type, payload)
    ON CONFLICT (subscription_id, event_id) DO NOTHING
"""


async def enqueue(
    conn: AsyncConnection,
    envelopes: Sequence[Envelope],
    *,
    cache: SubscriptionCache = CACHE,
    now: datetime | None = None,
) -> int:
    """Queue a delivery per (active subscription, matching event) in the caller's transaction; return how many."""
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [])
    subs_by_tenant: dict[uuid.UUID, list[Active]] = {}
    for event in envelopes:
        if event.tenant_id not in subs_by_tenant:
            subs_by_tenant[event.tenant_id] = await cache.active(conn, event.tenant_id)
        body: str | None = None
        for sub in subs_by_tenant[event.tenant_id]:
            if not wanted(sub.event_types, event.type):
                continue
            body = body or webhook_body(event).decode()
            for column, value in zip(
                columns, (uuid7(), event.tenant_id, sub.id, event.id, event.type, body), strict=True
            ):
                column.append(value)
    if not columns[0]:
        return 0
    await (await driver(conn)).execute(_ENQUEUE_SQL, *columns, now or utcnow())
    return len(columns[0])


# --- the worker ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """How the worker paces, bounds and retries its sends."""

    interval_s: float = 1.0
    timeout_s: float = 10.0
    max_attempts: int = 8
    concurrency: int = 16
    per_subscription: int = 4
    """Sends in flight to one subscription at most, so that a slow endpoint holds only its own slots."""
    backoff_s: tuple[float, ...] = BACKOFF_S
    jitter: float = JITTER
    lease_margin_s: float = 30.0
    retention: timedelta = timedelta(days=30)
    housekeeping_s: float = 60.0


@dataclass(frozen=True, slots=True)
class Job:
    """One leased delivery, ready to send."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    subscription_id: uuid.UUID
    event_id: uuid.UUID
    payload: bytes
    attempt: int
    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one request got: a status code, or the error that stopped it."""

    status_code: int | None
    error: str | None
    duration_ms: int


# Up to `per_subscription` due deliveries of each active subscription (fewer for those with sends in flight), the
# earliest due first, leased in the same statement; rows another worker holds are skipped.
_CLAIM_SQL = """
    WITH picked AS (
        SELECT d.id
        FROM subscriptions s
        LEFT JOIN unnest($2::uuid[], $3::int[]) AS busy(id, n) ON busy.id = s.id
        CROSS JOIN LATERAL (
            SELECT id, next_attempt_at FROM deliveries
            WHERE subscription_id = s.id AND status = 'pending' AND next_attempt_at <= $1 AND attempts < $7
            ORDER BY next_attempt_at
            LIMIT greatest($4 - coalesce(busy.n, 0), 0)
            FOR UPDATE SKIP LOCKED
        ) d
        WHERE s.status = 'active'
        ORDER BY d.next_attempt_at
        LIMIT $5
    )
    UPDATE deliveries d
    SET attempts = d.attempts + 1, next_attempt_at = $6, last_attempt_at = $1
    FROM picked, subscriptions s
    WHERE d.id = picked.id AND s.id = d.subscription_id
    RETURNING d.id, d.tenant_id, d.subscription_id, d.event_id, d.payload, d.attempts, s.url, s.secret::text AS secret
"""
# The outcome is written only if the lease is still ours (no other worker has taken the delivery since).
_RECORD_SQL = """
    UPDATE deliveries
    SET status = $3::text, next_attempt_at = $4::timestamptz, last_status_code = $5::smallint, last_error = $6::text,
        delivered_at = CASE WHEN $3::text = 'delivered' THEN $7::timestamptz END,
        payload = CASE WHEN $3::text = 'pending' THEN payload END
    WHERE id = $1 AND attempts = $2 AND status = 'pending'
"""
_ATTEMPT_SQL = """
    INSERT INTO delivery_attempts (delivery_id, attempt, tenant_id, attempted_at, status_code, error, duration_ms)
    VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
"""
_EXPIRE_SQL = """
    UPDATE deliveries SET status = 'failed', payload = NULL,
        last_error = coalesce(last_error || '; ', '') || 'no outcome recorded for the last attempt (worker stopped)'
    WHERE status = 'pending' AND attempts >= $1 AND next_attempt_at <= $2
"""
_ORPHANS_SQL = """
    UPDATE deliveries d SET status = 'cancelled', payload = NULL
    WHERE d.status = 'pending'
      AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.id = d.subscription_id AND s.status = 'active')
"""
_PRUNE_SQL = """
    DELETE FROM deliveries WHERE id IN (
        SELECT id FROM deliveries WHERE status <> 'pending' AND created_at < $1 LIMIT 10000
    )
"""


class Dispatcher:
    """Claims due deliveries, sends them concurrently, records each outcome; one per scheduler process."""

    def __init__(
        self,
        engine: AsyncEngine,
        keyring: KeyRing | None,
        client: httpx.AsyncClient,
        settings: WorkerSettings,
        *,
        clock: Clock = utcnow,
        cache: SubscriptionCache = CACHE,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.keyring = keyring
        self.client = client
        self.settings = settings
        self.clock = clock
        self.cache = cache
        self.on_commit = on_commit
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[uuid.UUID, int] = {}
        self._secrets: dict[uuid.UUID, str] = {}
        self._wake = asyncio.Event()
        self._housekept = float("-inf")
        self._warned = False

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then let the sends in flight finish (for at most the send timeout)."""
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.tick()
                    if time.monotonic() - self._housekept >= self.settings.housekeeping_s:
                        await self.housekeeping()
                        self._housekept = time.monotonic()
                except Exception:
                    log.exception("outbound delivery round failed; retrying in %.1fs", self.settings.interval_s)
                await _wait_any(stop, self._wake, self.settings.interval_s)
            await self.settle(self.settings.timeout_s + 1)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.client.aclose()

    async def tick(self) -> int:
        """Claim what is due within the free slots and start sending it; return how many sends started."""
        s = self.settings
        free = s.concurrency - len(self._tasks)
        if self.keyring is None:
            if not self._warned:
                log.error("outbound webhooks need CXM_MASTER_KEY to open the signing secrets; nothing is sent")
                self._warned = True
            return 0
        if free <= 0:
            return 0
        now = self.clock()
        busy = {sid: n for sid, n in self._in_flight.items() if n > 0}
        lease_until = now + timedelta(seconds=s.timeout_s + s.lease_margin_s)
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                _CLAIM_SQL, now, list(busy), list(busy.values()), s.per_subscription, free, lease_until, s.max_attempts
            )
            if not rows:
                return 0
            secrets = await self._open_secrets(conn, rows)
        for row in rows:
            secret = secrets.get(row["subscription_id"])
            if secret is None:
                continue  # deleted meanwhile (its key is destroyed): the lease runs out and housekeeping cancels it
            job = Job(
                id=row["id"],
                tenant_id=row["tenant_id"],
                subscription_id=row["subscription_id"],
                event_id=row["event_id"],
                payload=(row["payload"] or "").encode(),
                attempt=row["attempts"],
                url=row["url"],
                secret=secret,
            )
            self._in_flight[job.subscription_id] = self._in_flight.get(job.subscription_id, 0) + 1
            task = asyncio.create_task(self._deliver(job), name=f"webhook-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._done(job))
        return len(rows)

    def _done(self, job: Job) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            left = self._in_flight.get(job.subscription_id, 1) - 1
            if left > 0:
                self._in_flight[job.subscription_id] = left
            else:
                self._in_flight.pop(job.subscription_id, None)
            self._wake.set()  # a slot is free: claim more at once rather than after the interval

        return done

    async def settle(self, timeout: float | None = None) -> None:
        """Wait until the sends in flight are recorded."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def _open_secrets(self, conn: AsyncConnection, rows: Sequence[Any]) -> dict[uuid.UUID, str]:
        assert self.keyring is not None
        missing = {r["subscription_id"]: r["secret"] for r in rows if r["subscription_id"] not in self._secrets}
        if missing:
            keys = await self.keyring.keys(conn, None, missing, create=False)
            if len(self._secrets) + len(missing) > 100_000:
                self._secrets.clear()
            for sid, section_text in missing.items():
                section = orjson.loads(section_text)
                secret = unseal(keys.get(sid), section["fields"]["secret"], sid)
                if isinstance(secret, str):
                    self._secrets[sid] = secret
        return {
            r["subscription_id"]: self._secrets[r["subscription_id"]]
            for r in rows
            if r["subscription_id"] in self._secrets
        }

    async def _deliver(self, job: Job) -> None:
        try:
            attempt = await self.send(job)
            await self.record(job, attempt)
        except Exception:
            # The lease keeps the delivery: it is tried again once the lease has run out.
            log.exception("recording webhook delivery %s failed", job.id)

    async def send(self, job: Job) -> Attempt:
        """POST one delivery, signed now; never raises for the endpoint's faults."""
        started = time.perf_counter()
        headers = webhook_headers(job.secret, str(job.event_id), int(self.clock().timestamp()), job.payload)
        status: int | None = None
        error: str | None = None
        try:
            async with asyncio.timeout(self.settings.timeout_s):
                async with self.client.stream("POST", job.url, content=job.payload, headers=headers) as response:
                    status = response.status_code
                    excerpt = await _excerpt(response)
                    if not 200 <= status < 300:
                        error = excerpt
        except TimeoutError:
            error = f"no answer within {self.settings.timeout_s:g}s"
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if status is not None:
            # The status is the answer: a 2xx whose body was slow to come is still delivered.
            error = None if 200 <= status < 300 else f"HTTP {status}" + (f": {error}" if error else "")
        duration = int((time.perf_counter() - started) * 1000)
        return Attempt(status, truncate(printable(error)) if error else None, duration)

    async def record(self, job: Job, attempt: Attempt) -> Outcome:
        """Write an attempt's outcome: delivered, due again after a backoff, failed, or the subscription disabled."""
        s = self.settings
        now = self.clock()
        result = outcome(attempt.status_code, job.attempt, s.max_attempts)
        status = {Outcome.DELIVERED: "delivered", Outcome.RETRY: "pending"}.get(result, "failed")
        next_at = (
            now + timedelta(seconds=retry_delay(job.attempt, s.backoff_s, s.jitter)) if status == "pending" else None
        )
        error = attempt.error
        gone = "the endpoint answered 410 Gone: the subscription is disabled"
        if result is Outcome.GONE:
            error = gone
        disabled = False
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            pg = await driver(conn)
            await pg.execute(
                _ATTEMPT_SQL, job.id, job.attempt, job.tenant_id, now, attempt.status_code, error, attempt.duration_ms
            )
            await pg.execute(_RECORD_SQL, job.id, job.attempt, status, next_at, attempt.status_code, error, now)
            if result is Outcome.GONE:
                disabled = await subscriptions.disable(conn, job.tenant_id, job.subscription_id, gone)
        if disabled:
            self.cache.forget(job.tenant_id)
            if self.on_commit is not None:
                self.on_commit()
        DELIVERIES.labels(result.value).inc()
        return result

    async def housekeeping(self) -> None:
        """Fail deliveries whose last attempt has no outcome, cancel orphans, drop log entries past retention."""
        now = self.clock()
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            pg = await driver(conn)
            await pg.execute(_EXPIRE_SQL, self.settings.max_attempts, now)
            await pg.execute(_ORPHANS_SQL)
            await pg.execute(_PRUNE_SQL, now - self.settings.retention)


async def _excerpt(response: httpx.Response, shown: int = 200, read: int = 64 * 1024) -> str | None:
    """The start of a response body, to show in the log; a short body is read to its end so the connection is kept."""
    taken = b""
    async for chunk in response.aiter_raw():
        taken += chunk
        if len(taken) >= read:
            break
    return printable(taken[:shown].decode("utf-8", "replace")) or None


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
