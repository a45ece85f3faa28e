"""The whole system — gateway, ingest, insight, journey, actions — on real ports, on real Postgres and NATS."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest

from cxm_actions.config import Settings as ActionsSettings
from cxm_actions.service import SPEC as ACTIONS
from cxm_actions.wiring import ActionsContext, build
from cxm_common.crypto import MasterKey
from cxm_common.embedded import free_port
from cxm_common.migrations import upgrade
from cxm_common.service import create_app
from cxm_gateway.config import Settings as GatewaySettings
from cxm_gateway.service import SPEC as GATEWAY
from cxm_ingest.config import Settings as IngestSettings
from cxm_ingest.service import SPEC as INGEST
from cxm_insight.service import SPEC as INSIGHT
from cxm_journey.config import Settings as JourneySettings
from cxm_journey.service import SPEC as JOURNEY
from tests.gateway.integration.conftest import ADMIN_TOKEN, SECRET, serve
from tests.insight.integration.conftest import insight_settings

T = TypeVar("T")
SERVICES = ("ingest", "insight", "journey", "actions")


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 60.0, what: str = "it") -> T:
    """Poll until `probe` returns something (not None / falsy)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        await asyncio.sleep(0.1)


@dataclass
class Tenant:
    """A tenant and a client whose requests carry its API key."""

    id: str
    client: httpx.AsyncClient

    async def ok(self, method: str, url: str, *, status: int = 200, **kwargs: Any) -> Any:
        response = await self.client.request(method, url, **kwargs)
        assert response.status_code == status, (method, url, response.status_code, response.text)
        return response.json() if response.content else None


@dataclass
class Stack:
    """The running system."""

    url: str
    admin: httpx.AsyncClient
    actions: ActionsContext
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def tenant(self) -> Tenant:
        response = await self.admin.post(
            "/v1/admin/tenants", json={"name": f"t-{uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        client = httpx.AsyncClient(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {body['api_key']}"}
        )
        self.clients.append(client)
        return Tenant(body["tenant_id"], client)


@pytest.fixture
async def stack(database_url: str, nats_url: str, nats_prefix: str) -> AsyncIterator[Stack]:
    for spec in (GATEWAY, INGEST, INSIGHT, JOURNEY, ACTIONS):
        await upgrade(database_url, spec.name, spec.migrations)
    ports = {name: free_port() for name in (*SERVICES, "gateway")}
    common = {
        "database_url": database_url,
        "nats_url": nats_url,
        "nats_prefix": nats_prefix,
        "internal_token_secret": SECRET,
    }
    urls = {f"{name}_url": f"http://127.0.0.1:{ports[name]}" for name in SERVICES}
    journey = JourneySettings(**common, friction_interval_s=3600, risk_interval_s=3600)
    apps = {
        "ingest": create_app(
            INGEST, "all",
            IngestSettings(**common, master_key=MasterKey.generate(), public_base_url=f"http://127.0.0.1:{ports['gateway']}"),
        ),
        "insight": create_app(INSIGHT, "all", insight_settings(common, MasterKey.generate())),
        "journey": create_app(JOURNEY, "all", journey),
        "actions": create_app(
            ACTIONS, "all",
            ActionsSettings(**common, master_key=MasterKey.generate(), sla_interval_s=3600, impact_interval_s=3600),
        ),
    }  # fmt: skip
    async with contextlib.AsyncExitStack() as stack_:
        for name, app in apps.items():
            await stack_.enter_async_context(serve(app, ports[name]))
        gateway = create_app(GATEWAY, "all", GatewaySettings(**common, admin_token=ADMIN_TOKEN, **urls))
        url = await stack_.enter_async_context(serve(gateway, ports["gateway"]))
        admin = await stack_.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        result = Stack(url, admin, build(apps["actions"].state.runtime))
        try:
            yield result
        finally:
            for client in result.clients:
                await client.aclose()
