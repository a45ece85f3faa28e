"""The review poller: every due app-store connection's new reviews, fetched page by page and stored as feedback.

A round lists the connections whose `review_polls.next_poll_at` has passed (or that were never polled). Each is
polled inside a transaction holding `pg_try_advisory_xact_lock` on the connection, so across replicas only one
polls it; a replica that loses the race skips it. Pages are read newest first and each page is stored at once
through `Ingest.store` (duplicates are absorbed by external id). Paging stops at the last page or at the first page
holding a review older than the high-water mark less `LOOKBACK`. A complete round moves the high-water mark to the
newest review seen and schedules the next poll `poll_interval_s` later; a failed one (401/403 and other 4xx:
`refused`; 429, 5xx, timeouts, unreadable pages: `error`) keeps the mark, notes the reason in the connection's
delivery log and `review_polls.last_error`, and is retried after `Retry-After` when given, else a few minutes
(refusals: a poll interval) later. Nothing a connection does stops the loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import jwt
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.aio import sleep_or_stop
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.ids import uuid7
from cxm_ingest.connections import load_connection
from cxm_ingest.reviews import DEFAULT_POLL_INTERVAL_S, ReviewPage, app_store, google_play
from cxm_ingest.sources.base import BadPayload, ConfigError
from cxm_ingest.wiring import IngestContext

log = logging.getLogger(__name__)

TICK_S = 30.0
REQUEST_TIMEOUT_S = 30.0
CONCURRENCY = 2
# Stores may list a review a while after its timestamp; re-reading a day behind the mark catches those late ones.
LOOKBACK = timedelta(hours=24)
MAX_PAGES = 500
ERROR_RETRY_S = 300
MAX_RETRY_AFTER_S = 24 * 3600
EXCERPT = 200


@dataclass(frozen=True, slots=True)
class StoreApi:
    """How the poller reads one store: its page URLs, its page parser, and the config field naming the app."""

    url: Callable[[dict[str, Any], str | None], str]
    parse: Callable[..., ReviewPage]
    app_field: str


APIS: dict[str, StoreApi] = {
    google_play.SOURCE: StoreApi(google_play.reviews_url, google_play.parse_page, "package_name"),
    app_store.SOURCE: StoreApi(app_store.reviews_url, app_store.parse_page, "app_id"),
}


class PollError(Exception):
    """A round that failed: `refused` (the store will not have it) or `error` (try again soon)."""

    def __init__(self, outcome: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one connection's poll did."""

    connection_id: uuid.UUID
    outcome: str  # accepted, ignored, refused or error, as in the delivery log
    reason: str
    stored: int = 0
    high_water: datetime | None = None


@dataclass(slots=True)
class _Round:
    pages: int = 0
    read: int = 0
    stored: int = 0
    newest: datetime | None = None
    truncated: bool = False


def lock_key(connection_id: uuid.UUID) -> int:
    """The advisory lock id of a connection's poll (a signed 64-bit digest, namespaced)."""
    digest = hashlib.blake2b(b"cxm-review-poll:" + connection_id.bytes, digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def log_poll(
    conn: AsyncConnection, tenant: uuid.UUID, connection_id: uuid.UUID, outcome: str, reason: str, records: int = 0
) -> None:
    """Record a poll in the connection's delivery log (polls have no delivery id)."""
    await (await driver(conn)).execute(
        "INSERT INTO deliveries (id, tenant_id, connection_id, delivery_id, received_at, outcome, reason, records) "
        "VALUES ($1, $2, $3, NULL, now(), $4, $5, $6)",
        uuid7(), tenant, connection_id, outcome, reason, records,
    )  # fmt: skip


class ReviewPoller:
    """Polls every review connection when it is due."""

    def __init__(self, ctx: IngestContext, *, tick_s: float = TICK_S, timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.ctx = ctx
        self.engine = ctx.runtime.engine
        self.tick_s = tick_s
        self.timeout_s = timeout_s

    async def run(self, stop: asyncio.Event) -> None:
        """Poll due connections every tick until `stop` is set."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # the database may be away: the next tick tries again
                log.exception("review polling round failed")
            await sleep_or_stop(stop, self.tick_s)

    async def poll_once(self, now: datetime | None = None) -> list[PollResult]:
        """One round: poll every connection due at `now` (default: the clock); results of those polled here."""
        now = now or datetime.now(UTC)
        due = await self._due(now)
        if not due:
            return []
        limit = asyncio.Semaphore(CONCURRENCY)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(connection_id: uuid.UUID) -> PollResult | None:
                async with limit:
                    try:
                        return await self.poll_connection(session, connection_id, now)
                    except Exception:
                        log.exception("polling reviews of connection %s failed", connection_id)
                        return None

            results = await asyncio.gather(*(one(connection_id) for connection_id in due))
        return [result for result in results if result is not None]

    async def _due(self, now: datetime) -> list[uuid.UUID]:
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            rows = await (await driver(conn)).fetch(
                "SELECT c.id FROM connections c LEFT JOIN review_polls p ON p.connection_id = c.id "
                "WHERE c.source = ANY($1::text[]) AND c.deleted_at IS NULL "
                "AND (p.next_poll_at IS NULL OR p.next_poll_at <= $2) "
                "ORDER BY p.next_poll_at NULLS FIRST, c.created_at",
                list(APIS), now,
            )  # fmt: skip
        return [row["id"] for row in rows]

    async def poll_connection(
        self, session: aiohttp.ClientSession, connection_id: uuid.UUID, now: datetime
    ) -> PollResult | None:
        """Poll one connection under its advisory lock; None when another replica has it or it is not due."""
        async with self.engine.begin() as conn:
            await set_tenant(conn, ALL_TENANTS)
            pg = await driver(conn)
            if not await pg.fetchval("SELECT pg_try_advisory_xact_lock($1)", lock_key(connection_id)):
                return None
            connection = await load_connection(self.ctx, conn, connection_id)
            if connection is None or connection["source"] not in APIS:
                return None
            state = await pg.fetchrow(
                "SELECT high_water, last_polled_at, next_poll_at FROM review_polls WHERE connection_id = $1",
                connection_id,
            )
            if state is not None and state["next_poll_at"] is not None and state["next_poll_at"] > now:
                return None  # another replica polled it since this round listed it
            tenant: uuid.UUID = connection["tenant_id"]
            await set_tenant(conn, tenant)
            config: dict[str, Any] = connection["config"]
            interval = int(config.get("poll_interval_s") or DEFAULT_POLL_INTERVAL_S)
            high_water: datetime | None = state["high_water"] if state else None
            last_polled: datetime | None = state["last_polled_at"] if state else None
            try:
                done = await self._read(session, tenant, connection_id, connection["source"], config, high_water)
            except PollError as error:
                result = PollResult(connection_id, error.outcome, error.reason, high_water=high_water)
                retry_s: float = interval if error.outcome == "refused" else min(interval, ERROR_RETRY_S)
                if error.retry_after_s is not None:
                    retry_s = error.retry_after_s
            else:
                reason = f"{done.read} review(s) read on {done.pages} page(s), {done.stored} new"
                if done.truncated:
                    reason += f"; stopped after {MAX_PAGES} pages, older reviews were not read"
                outcome = "accepted" if done.stored else "ignored"
                result = PollResult(connection_id, outcome, reason, done.stored, done.newest)
                last_polled, retry_s = now, interval
            await self._save(conn, tenant, result, last_polled, now + timedelta(seconds=retry_s))
            await log_poll(conn, tenant, connection_id, result.outcome, result.reason, result.stored)
        if result.outcome in ("refused", "error"):
            log.warning("review poll of connection %s: %s: %s", connection_id, result.outcome, result.reason)
        return result

    async def _read(
        self, session: aiohttp.ClientSession, tenant: uuid.UUID, connection_id: uuid.UUID, source: str,
        config: dict[str, Any], high_water: datetime | None,
    ) -> _Round:  # fmt: skip
        """Fetch and store pages until the last one or one reaching behind the mark."""
        api = APIS[source]
        authorization = await self._authorization(session, source, config)
        cutoff = high_water - LOOKBACK if high_water is not None else None
        done = _Round(newest=high_water)
        url = api.url(config, None)
        while True:
            if done.pages == MAX_PAGES:
                done.truncated = True
                return done
            body = await self._get_json(session, url, authorization())
            try:
                page = api.parse(body, app=str(config[api.app_field]))
            except BadPayload as exc:
                raise PollError("error", f"unreadable reviews page: {exc.reason}") from exc
            done.pages += 1
            done.read += len(page.records)
            if page.records:
                try:
                    stored = await self.ctx.ingest.store(tenant, page.records, connection_id=connection_id)
                except Exception as exc:
                    log.exception("storing reviews of connection %s failed", connection_id)
                    raise PollError("error", f"storing the reviews failed ({type(exc).__name__})") from exc
                self.ctx.runtime.committed()
                done.stored += stored.accepted
            times = [record.occurred_at for record in page.records if record.occurred_at is not None]
            if times:
                done.newest = max([*times, done.newest] if done.newest else times)
            if page.next_page is None or (cutoff is not None and any(time < cutoff for time in times)):
                return done
            url = api.url(config, page.next_page)

    async def _authorization(
        self, session: aiohttp.ClientSession, source: str, config: dict[str, Any]
    ) -> Callable[[], str]:
        """What makes each request's `Authorization` header for this round."""
        try:
            if source == app_store.SOURCE:
                app_store.api_token(config, now=datetime.now(UTC))  # a key that cannot sign fails here, once
                return lambda: f"Bearer {app_store.api_token(config, now=datetime.now(UTC))}"
            url, form = google_play.token_request(config, now=datetime.now(UTC))
        except (ConfigError, jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise PollError("refused", f"the connection's credentials cannot sign a token ({exc})") from exc
        body = await self._request(session, "POST", url, "the token endpoint", data=form)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise PollError("error", "the token endpoint answered without an access_token")
        return lambda: f"Bearer {token}"

    async def _get_json(self, session: aiohttp.ClientSession, url: str, authorization: str) -> Any:
        headers = {"Authorization": authorization, "Accept": "application/json"}
        return await self._request(session, "GET", url, "the reviews API", headers=headers)

    async def _request(self, session: aiohttp.ClientSession, method: str, url: str, what: str, **kwargs: Any) -> Any:
        """One request's JSON answer; PollError on any failure, with the reason to log."""
        host = urlsplit(url).hostname or ""
        if host not in self.ctx.settings.review_api_hosts:
            # Tenants choose these URLs: only hosts the operator allows are ever called (no requests to internal
            # addresses on a tenant's say-so).
            raise PollError("refused", f"{what} host {host!r} is not in CXM_INGEST_REVIEW_API_HOSTS")
        try:
            async with session.request(method, url, allow_redirects=False, **kwargs) as response:
                if response.status == 200:
                    try:
                        return await response.json(content_type=None)
                    except ValueError as exc:
                        raise PollError("error", f"{what} answered with invalid JSON") from exc
                text = await response.text(errors="replace")
                raise _http_error(what, response.status, response.headers.get("Retry-After"), text)
        except TimeoutError as exc:
            raise PollError("error", f"{what} did not answer within {self.timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise PollError("error", f"{what} could not be reached ({type(exc).__name__})") from exc

    async def _save(
        self, conn: AsyncConnection, tenant: uuid.UUID, result: PollResult, last_polled: datetime | None,
        next_poll: datetime,
    ) -> None:  # fmt: skip
        failed = result.outcome in ("refused", "error")
        await (await driver(conn)).execute(
            """
            INSERT INTO review_polls (connection_id, tenant_id, high_water, last_polled_at, next_poll_at, last_error)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (connection_id) DO UPDATE SET high_water = EXCLUDED.high_water,
                last_polled_at = EXCLUDED.last_polled_at, next_poll_at = EXCLUDED.next_poll_at,
                last_error = EXCLUDED.last_error
            """,
            result.connection_id, tenant, result.high_water, last_polled, next_poll, result.reason if failed else None,
        )  # fmt: skip


def _http_error(what: str, status: int, retry_after: str | None, body: str) -> PollError:
    excerpt = " ".join(body.split())[:EXCERPT]
    detail = f"{what} answered HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if status == 429 or status >= 500:
        return PollError("error", detail, _retry_after(retry_after))
    return PollError("refused", detail)


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (seconds or an HTTP date), capped at a day; None when absent or bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(min(int(text), MAX_RETRY_AFTER_S))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), float(MAX_RETRY_AFTER_S))
