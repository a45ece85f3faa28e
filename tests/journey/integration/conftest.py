"""Gateway, ingest, insight and journey on real ports, on real Postgres and NATS."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest

from cxm_common.crypto import MasterKey
from cxm_common.db import driver, set_tenant
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
from cxm_journey.wiring import JourneyContext, build
from tests.gateway.integration.conftest import ADMIN_TOKEN, SECRET, serve
from tests.insight.integration.conftest import insight_settings


@dataclass
class Tenant:
    """A tenant and a client whose requests carry its API key."""

    id: str
    client: httpx.AsyncClient

    async def interactions(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), 1000):
            response = await self.client.post("/v1/interactions/batch", json={"items": items[start : start + 1000]})
            assert response.status_code == 202, response.text

    async def customer_id(self, key: str) -> str:
        response = await self.client.get(f"/v1/customers/{key}")
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    async def timeline(self, key: str, *, steps: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the customer's timeline holds at least `steps` steps."""
        customer = await self.customer_id(key)
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(f"/v1/journeys/customers/{customer}")
            if response.status_code == 200 and len(response.json()["steps"]) >= steps:
                return response.json()  # type: ignore[no-any-return]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{key}: timeline not complete within {timeout}s: {response.text[:500]}")
            await asyncio.sleep(0.1)

    async def settled(self, expected_steps: int, timeout: float = 120.0) -> None:
        """Wait until every sent step is on a timeline (paths count them all)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.engine.begin() as conn:
                await set_tenant(conn, uuid.UUID(self.id))
                total = int(
                    await (await driver(conn)).fetchval(
                        "SELECT count(*) FROM steps WHERE tenant_id = $1", uuid.UUID(self.id)
                    )
                )
            if total >= expected_steps:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"only {total} of {expected_steps} steps recorded")
            await asyncio.sleep(0.2)

    engine: Any = None


@dataclass
class Stack:
    """A running gateway + ingest + insight + journey."""

    url: str
    admin: httpx.AsyncClient
    journey: JourneyContext
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
        return Tenant(body["tenant_id"], client, engine=self.journey.runtime.engine)


def at(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
async def stack(database_url: str, nats_url: str, nats_prefix: str) -> AsyncIterator[Stack]:
    for spec in (GATEWAY, INGEST, INSIGHT, JOURNEY):
        await upgrade(database_url, spec.name, spec.migrations)
    ports = {name: free_port() for name in ("ingest", "insight", "journey", "gateway")}
    common = {
        "database_url": database_url,
        "nats_url": nats_url,
        "nats_prefix": nats_prefix,
        "internal_token_secret": SECRET,
    }
    ingest = IngestSettings(**common, master_key=MasterKey.generate())
    insight = insight_settings(common, MasterKey.generate())
    journey = JourneySettings(**common, friction_interval_s=3600, risk_interval_s=3600)
    urls = {f"{name}_url": f"http://127.0.0.1:{ports[name]}" for name in ("ingest", "insight", "journey")}
    gateway = GatewaySettings(**common, admin_token=ADMIN_TOKEN, **urls)
    async with contextlib.AsyncExitStack() as stack_:
        await stack_.enter_async_context(serve(create_app(INGEST, "all", ingest), ports["ingest"]))
        await stack_.enter_async_context(serve(create_app(INSIGHT, "all", insight), ports["insight"]))
        journey_app = create_app(JOURNEY, "all", journey)
        await stack_.enter_async_context(serve(journey_app, ports["journey"]))
        url = await stack_.enter_async_context(serve(create_app(GATEWAY, "all", gateway), ports["gateway"]))
        admin = await stack_.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        result = Stack(url, admin, build(journey_app.state.runtime))
        try:
            yield result
        finally:
            for client in result.clients:
                await client.aclose()
