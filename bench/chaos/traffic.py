"""What the harness sends: tenants with a key and a signed webhook connection, requests through the gateway's
public API and signed webhooks, and an open-loop generator that paces them at a rate, bounded in count and time."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson

from cxm_ingest.handlers import record_id

FEEDBACK = "feedback"
INTERACTION = "interaction"
TIMEOUT_S = 10.0
"""A request without an answer after this long counts as a timeout (status 0)."""


@dataclass
class Tenant:
    """A tenant of the run: its key, and a generic (Standard Webhooks) connection with a secret we chose."""

    id: uuid.UUID
    name: str
    api_key: str
    connection_id: str
    secret: str
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    """A marker put in every text this tenant sends, to spot its rows in any answer."""

    @property
    def auth(self) -> dict[str, str]:
        """The API key header."""
        return {"Authorization": f"Bearer {self.api_key}"}


async def new_tenant(session: aiohttp.ClientSession, gateway: str, admin_token: str, name: str) -> Tenant:
    """Create a tenant through the operator route, and a generic webhook connection through its key."""
    async with session.post(
        f"{gateway}/v1/admin/tenants", json={"name": name}, headers={"Authorization": f"Bearer {admin_token}"}
    ) as response:
        assert response.status == 201, await response.text()
        created = await response.json()
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    async with session.post(
        f"{gateway}/v1/connections",
        json={"source": "generic", "name": f"chaos-{name}", "config": {"secret": secret}},
        headers={"Authorization": f"Bearer {created['api_key']}"},
    ) as response:
        assert response.status == 201, await response.text()
        connection = await response.json()
    return Tenant(uuid.UUID(created["tenant_id"]), name, created["api_key"], str(connection["id"]), secret)


@dataclass(frozen=True)
class Request:
    """One HTTP request to send, and the record ingest must store once if it is acknowledged."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    kind: str | None = None
    """`feedback` or `interaction`: what an acknowledgement stores; None for requests that store nothing."""
    record: uuid.UUID | None = None
    tenant: uuid.UUID | None = None
    customer: str | None = None


def _json(tenant: Tenant, path: str, body: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json", **tenant.auth, **(extra or {})}
    return {"method": "POST", "path": path, "headers": headers, "body": orjson.dumps(body)}


def feedback_text(tenant: Tenant, n: int, customer: str) -> str:
    """A feedback text carrying the tenant's marker and a piece of PII (an email) to redact and seal."""
    moods = ("Checkout failed twice and support never answered", "Delivery was quick, thank you",
             "The invoice charged me twice this month", "Great app since the update",
             "I waited 40 minutes on the phone, really disappointed")  # fmt: skip
    return f"{moods[n % len(moods)]} [{tenant.tag}-{n}] write to {customer}.{tenant.tag}@example.com"


def feedback_api(tenant: Tenant, run: str, n: int, customer: str, *, idempotency_key: str | None = None) -> Request:
    """`POST /v1/feedback` with an external id (so its stored id is known) and an NPS score."""
    external = f"{run}-f{n}"
    body = {"channel": "survey", "external_id": external, "customer": {"id": customer},
            "text": feedback_text(tenant, n, customer), "scores": {"nps": n % 11}}  # fmt: skip
    extra = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return Request(
        **_json(tenant, "/v1/feedback", body, extra),
        kind=FEEDBACK, record=record_id(tenant.id, FEEDBACK, "api", external), tenant=tenant.id, customer=customer,
    )  # fmt: skip


def interaction_api(tenant: Tenant, run: str, n: int, customer: str, name: str, at: datetime) -> Request:
    """`POST /v1/interactions` with an external id."""
    external = f"{run}-i{n}"
    body = {"customer_id": customer, "name": name, "external_id": external, "occurred_at": at.isoformat()}
    return Request(
        **_json(tenant, "/v1/interactions", body),
        kind=INTERACTION, record=record_id(tenant.id, INTERACTION, "api", external), tenant=tenant.id,
        customer=customer,
    )  # fmt: skip


def customer_update(tenant: Tenant, customer: str, attributes: dict[str, Any]) -> Request:
    """`PUT /v1/customers/{id}` with attributes."""
    headers = {"Content-Type": "application/json", **tenant.auth}
    return Request("PUT", f"/v1/customers/{customer}", headers, orjson.dumps(attributes), tenant=tenant.id)


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks `webhook-signature` value for a `whsec_…` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def feedback_webhook(tenant: Tenant, run: str, n: int, customer: str, *, delivery: str | None = None) -> Request:
    """A signed generic webhook carrying one feedback (its `webhook-id` is the delivery id ingest dedupes on)."""
    external = f"{run}-w{n}"
    data = {"channel": "review", "external_id": external, "customer": {"id": customer},
            "text": feedback_text(tenant, n, customer), "scores": {"nps": n % 11}}  # fmt: skip
    body = orjson.dumps({"type": "feedback", "data": data})
    message_id = delivery or f"msg_{run}_{n}"
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(stamp),
               "webhook-signature": sign(tenant.secret, message_id, stamp, body)}  # fmt: skip
    return Request(
        "POST", f"/v1/webhooks/generic/{tenant.connection_id}", headers, body,
        kind=FEEDBACK, record=record_id(tenant.id, FEEDBACK, "generic", external), tenant=tenant.id, customer=customer,
    )  # fmt: skip


def mixed(tenant: Tenant, run: str, customers: int = 50) -> Callable[[int], Request]:
    """Request `n` of a steady mix: signed webhooks, API feedback and interactions, over `customers` customers."""
    names = ("page_viewed", "pricing_viewed", "checkout_started", "order_placed", "login")
    start = datetime.now(UTC) - timedelta(hours=1)

    def make(n: int) -> Request:
        customer = f"cust-{n % customers}"
        if n % 3 == 0:
            return feedback_webhook(tenant, run, n, customer)
        if n % 3 == 1:
            return feedback_api(tenant, run, n, customer)
        return interaction_api(tenant, run, n, customer, names[(n // 3) % len(names)], start + timedelta(seconds=n))

    return make


@dataclass
class Sent:
    """One request's fate: status (0 for a timeout or a connection error), latency, and the time of its answer."""

    request: Request
    status: int
    latency_s: float
    answered_at: float
    """Wall-clock time (time.time()) of the answer: compared with the times services record."""
    due: float = 0.0
    """When it was due to be sent (time.monotonic())."""
    refusals: list[str] = field(default_factory=list)
    """The 429/503 answers it got (and retried after their `Retry-After`) before this one: status and detail."""
    retry_after: str | None = None
    error: str | None = None
    body: bytes = b""


@dataclass
class Traffic:
    """Everything a generator sent in one run."""

    sent: list[Sent] = field(default_factory=list)
    offered_rate: float = 0.0
    seconds: float = 0.0

    def shed_then_retried(self) -> int:
        """Refusals (429/503 with `Retry-After`) that the client retried."""
        return sum(len(s.refusals) for s in self.sent)

    def refusal_reasons(self) -> dict[str, int]:
        """Every refusal the client saw, final or retried, by status and detail."""
        reasons = Counter(r for s in self.sent for r in s.refusals)
        reasons.update(_detail(s.status, s.body) for s in self.sent if s.status in (429, 503))
        return dict(reasons)

    def statuses(self) -> dict[str, int]:
        """How many answers of each status (`0` for no answer)."""
        return {str(k): v for k, v in sorted(Counter(s.status for s in self.sent).items())}

    def acked(self) -> list[Sent]:
        """The requests answered 2xx."""
        return [s for s in self.sent if 200 <= s.status < 300]

    def acked_records(self, kind: str | None = None) -> dict[uuid.UUID, Sent]:
        """Records acknowledged (first acknowledgement of each), optionally of one kind."""
        found: dict[uuid.UUID, Sent] = {}
        for s in self.acked():
            if s.request.record is not None and (kind is None or s.request.kind == kind):
                found.setdefault(s.request.record, s)
        return found

    def extend(self, other: Traffic) -> None:
        """Add another run's requests."""
        self.sent.extend(other.sent)
        self.seconds += other.seconds


def client_session(connections: int = 256) -> aiohttp.ClientSession:
    """A keep-alive client with a bounded pool (excess requests wait for a connection, and that wait is timed)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, limit_per_host=connections, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
        skip_auto_headers=("User-Agent",),
    )


RETRIES = 5
"""How many times a client retries a 429 or 503 after its `Retry-After`, as webhook senders and SDKs do."""


async def send(
    session: aiohttp.ClientSession, base: str, request: Request, scheduled: float | None = None, retries: int = RETRIES
) -> Sent:
    """Send one request, retrying a refusal that says when to come back; latency runs from `scheduled` (monotonic)
    when given, so client queueing and retries count."""
    began = time.monotonic() if scheduled is None else scheduled
    refusals: list[str] = []
    while True:
        try:
            async with session.request(request.method, base + request.path, data=request.body,
                                       headers=request.headers) as response:  # fmt: skip
                body = await response.read()
                retry_after = response.headers.get("Retry-After")
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Sent(request, 0, time.monotonic() - began, time.time(), due=began, refusals=refusals,
                        error=f"{type(exc).__name__}: {exc}")  # fmt: skip
        if status in (429, 503) and retry_after and len(refusals) < retries:
            refusals.append(_detail(status, body))
            await asyncio.sleep(min(float(retry_after), 2.0))
            continue
        return Sent(request, status, time.monotonic() - began, time.time(), due=began, retry_after=retry_after,
                    refusals=refusals, body=body[:2000])  # fmt: skip


def _detail(status: int, body: bytes) -> str:
    """A refusal as `503 <detail of the problem document>`."""
    try:
        return f"{status} {orjson.loads(body).get('detail', '')}"
    except (orjson.JSONDecodeError, AttributeError):
        return str(status)


async def paced(
    session: aiohttp.ClientSession,
    base: str,
    make: Callable[[int], Request],
    *,
    rate: float,
    seconds: float,
    max_count: int,
    first: int = 0,
    stop: asyncio.Event | None = None,
    retries: int = RETRIES,
) -> Traffic:
    """Open loop: request `first + i` is due at `start + i / rate`, whether or not earlier ones have answered;
    at most `max_count` requests and `seconds` of sending (then the answers are awaited)."""
    traffic = Traffic(offered_rate=rate)
    tasks: list[asyncio.Task[Sent]] = []
    start = time.monotonic()
    for i in range(max_count):
        due = start + i / rate
        if due - start > seconds or (stop is not None and stop.is_set()):
            break
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(session, base, make(first + i), due, retries)))
    traffic.seconds = time.monotonic() - start
    traffic.sent = list(await asyncio.gather(*tasks))
    return traffic


async def all_at_once(session: aiohttp.ClientSession, base: str, requests: Sequence[Request]) -> Traffic:
    """Send requests concurrently."""
    began = time.monotonic()
    sent = await asyncio.gather(*(send(session, base, r) for r in requests))
    return Traffic(sent=list(sent), seconds=time.monotonic() - began)


async def one_by_one(session: aiohttp.ClientSession, base: str, requests: Sequence[Request]) -> Traffic:
    """Send requests in sequence, each after the previous answer."""
    began = time.monotonic()
    sent = [await send(session, base, r) for r in requests]
    return Traffic(sent=sent, seconds=time.monotonic() - began)


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and max (nearest rank) of latencies in seconds, as milliseconds (empty without samples)."""
    if not samples_s:
        return {}
    ordered = sorted(samples_s)
    last = len(ordered) - 1

    def rank(q: float) -> float:
        return round(ordered[min(last, max(0, round(q * len(ordered)) - 1))] * 1000, 1)

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": round(ordered[-1] * 1000, 1)}
