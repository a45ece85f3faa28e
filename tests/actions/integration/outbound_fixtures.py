"""The actions service with only its outbound webhooks wired, on real Postgres and NATS, and a local receiver."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from aiohttp import web

from cxm_actions.config import Settings
from cxm_actions.outbound import wiring
from cxm_actions.service import SPEC as ACTIONS
from cxm_common import jetstream
from cxm_common.auth import INTERNAL_TOKEN_HEADER, Principal, issue_token
from cxm_common.crypto import MasterKey
from cxm_common.embedded import free_port
from cxm_common.envelope import Envelope
from cxm_common.eventstore import append_now
from cxm_common.migrations import upgrade
from cxm_common.service import Runtime, ServiceSpec, create_app
from tests.gateway.integration.conftest import SECRET, serve

T = TypeVar("T")
BACKOFF_S = (0.3, 0.3, 0.3)


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, what: str = "it") -> T:
    """Poll `probe` until it returns something other than None (or False)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found is not None and found is not False:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.05)


def outbound_spec(backoff_s: tuple[float, ...] = BACKOFF_S, *, worker: bool = True) -> ServiceSpec:
    """The actions service as `outbound.wiring` plugs it in, with a short retry schedule (and no worker if asked)."""
    return ServiceSpec(
        name="actions",
        title="cxm actions (outbound webhooks)",
        settings_factory=Settings,
        migrations=ACTIONS.migrations,
        default_port=ACTIONS.default_port,
        routers=wiring.routers,
        subscriptions=wiring.subscriptions,
        projections=lambda: [wiring.projection()],
        schedulers=lambda runtime: [wiring.scheduler(runtime, backoff_s=backoff_s)] if worker else [],
    )


@dataclass
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: datetime
    status: int


Behaviour = Callable[[int], Awaitable[int]]
"""`(how many requests this path had before) -> status to answer`."""


@dataclass
class WebhookReceiver:
    """A local HTTP endpoint whose paths answer as scripted, recording every request."""

    base_url: str = ""
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, Behaviour] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight: dict[str, int] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str, script: Behaviour) -> str:
        """Script a path and return its URL."""
        self.scripts[path] = script
        return f"{self.base_url}{path}"

    def at(self, path: str) -> list[Received]:
        """The requests a path got, in order."""
        return [r for r in self.requests if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        """Answer as the path's script says."""
        path = request.path
        body = await request.read()
        before = len(self.at(path)) + self.in_flight.get(path, 0)
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.most_in_flight[path] = max(self.most_in_flight.get(path, 0), self.in_flight[path])
        try:
            status = await self.scripts.get(path, answer(404))(before)
        finally:
            self.in_flight[path] -= 1
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Received(path, headers, body, datetime.now(UTC), status))
        return web.Response(status=status, text="nope" if status >= 300 else "")


def answer(*statuses: int) -> Behaviour:
    """Answer these statuses in turn, then the last one for ever."""

    async def script(before: int) -> int:
        return statuses[min(before, len(statuses) - 1)]

    return script


def hang(receiver: WebhookReceiver, status: int = 500) -> Behaviour:
    """Answer only once the receiver is released (longer than any send timeout in these tests)."""

    async def script(before: int) -> int:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(receiver.release.wait(), timeout=60)
        return status

    return script


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    """A receiver on 127.0.0.1."""
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.base_url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        receiver.release.set()
        await runner.cleanup()


@dataclass
class Outbound:
    """A running actions service (outbound webhooks only), and ways to call it and feed it events."""

    url: str
    runtime: Runtime
    js: Any
    prefix: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, tenant: uuid.UUID, scopes: frozenset[str] = frozenset({"actions:read", "admin"})) -> Any:
        """A client calling the service as the gateway would for this tenant's key."""
        token = issue_token(SECRET, Principal(tenant_id=tenant, scopes=scopes), ttl_s=600)
        client = httpx.AsyncClient(base_url=self.url, timeout=30, headers={INTERNAL_TOKEN_HEADER: token})
        self.clients.append(client)
        return client

    async def append(self, tenant: uuid.UUID, type_: str, data: dict[str, Any]) -> Envelope:
        """Append an event to the actions store: the relay publishes it on the ACTIONS stream."""
        event = Envelope(type_, "actions", f"action-{uuid.uuid4()}", tenant, data)
        [stored] = await append_now(self.runtime.engine, event.subject, [event])
        self.runtime.committed()
        return stored

    async def publish(self, service: str, tenant: uuid.UUID, type_: str, data: dict[str, Any]) -> Envelope:
        """Publish an event of another service on its stream, as that service's relay would."""
        event = Envelope(type_, service, f"{service}-{uuid.uuid4()}", tenant, data)
        await self.js.publish(
            jetstream.subject_for(type_, self.prefix), event.to_json(), headers={jetstream.HEADER_MSG_ID: str(event.id)}
        )
        return event


StackFactory = Callable[..., contextlib.AbstractAsyncContextManager[Outbound]]


@pytest.fixture
def outbound_stack(database_url: str, nats_url: str, nats_prefix: str) -> StackFactory:
    """Start the service with setting overrides (private targets allowed and fast rounds by default).

    `worker=False` leaves the delivery worker out, for tests that drive dispatchers by hand.
    """

    @contextlib.asynccontextmanager
    async def start(worker: bool = True, **overrides: Any) -> AsyncIterator[Outbound]:
        await upgrade(database_url, ACTIONS.name, ACTIONS.migrations)
        settings = Settings(
            **{
                "database_url": database_url,
                "nats_url": nats_url,
                "nats_prefix": nats_prefix,
                "internal_token_secret": SECRET,
                "master_key": MasterKey.generate(),
                "outbound_allow_private": True,
                "outbound_interval_s": 0.1,
                "outbound_timeout_s": 2.0,
                **overrides,
            }
        )
        nc = await jetstream.connect(nats_url, name="outbound-tests")
        js = nc.jetstream()
        for service in ("insight", "journey"):  # the other producers' streams, for the consumers to bind to
            await jetstream.ensure_stream(js, service, prefix=nats_prefix)
        app = create_app(outbound_spec(worker=worker), "all", settings)
        outbound: Outbound | None = None
        try:
            async with serve(app, free_port()) as url:
                outbound = Outbound(url, app.state.runtime, js, nats_prefix)
                yield outbound
        finally:
            if outbound is not None:
                for client in outbound.clients:
                    await client.aclose()
            await nc.close()

    return start
