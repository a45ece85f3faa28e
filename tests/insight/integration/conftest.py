"""Gateway, ingest and insight on real ports, on real Postgres and NATS: feedback goes in, analyses come out."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from cxm_common.crypto import MasterKey
from cxm_common.embedded import free_port
from cxm_common.migrations import upgrade
from cxm_common.service import create_app
from cxm_gateway.config import Settings as GatewaySettings
from cxm_gateway.service import SPEC as GATEWAY
from cxm_ingest.config import Settings as IngestSettings
from cxm_ingest.service import SPEC as INGEST
from cxm_insight.config import Settings as InsightSettings
from cxm_insight.service import SPEC as INSIGHT
from cxm_insight.wiring import InsightContext, build
from tests.gateway.integration.conftest import ADMIN_TOKEN, SECRET, serve


@dataclass
class Tenant:
    """A tenant and a client whose requests carry its API key."""

    id: str
    client: httpx.AsyncClient

    async def feedback(self, **body: Any) -> str:
        body.setdefault("channel", "survey")
        response = await self.client.post("/v1/feedback", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    async def batch(self, items: list[dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(items), 500):
            chunk = [{"channel": "survey", **i} for i in items[start : start + 500]]
            response = await self.client.post("/v1/feedback/batch", json={"items": chunk})
            assert response.status_code == 202, response.text
            ids.extend(response.json()["ids"])
        return ids

    async def analysis(self, feedback_id: str, *, revision: int = 1, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the feedback's analysis (at least this revision) is readable through the gateway."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            response = await self.client.get(f"/v1/insights/feedback/{feedback_id}")
            if response.status_code == 200 and response.json()["revision"] >= revision:
                return response.json()  # type: ignore[no-any-return]
            assert response.status_code in (200, 404), response.text
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"feedback {feedback_id} was not analysed within {timeout}s")
            await asyncio.sleep(0.1)

    async def all_analysed(self, ids: list[str], timeout: float = 120.0) -> None:
        for feedback_id in ids:
            await self.analysis(feedback_id, timeout=timeout)


@dataclass
class Stack:
    """A running gateway + ingest + insight."""

    url: str
    admin: httpx.AsyncClient
    insight: InsightContext
    database_url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def tenant(self, name: str | None = None) -> Tenant:
        response = await self.admin.post(
            "/v1/admin/tenants", json={"name": name or f"t-{uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        client = httpx.AsyncClient(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {body['api_key']}"}
        )
        self.clients.append(client)
        return Tenant(body["tenant_id"], client)


def insight_settings(common: dict[str, Any], master_key: str) -> InsightSettings:
    """Insight with its background rounds fast (tests run them by hand where timing matters)."""
    return InsightSettings(
        **common, master_key=master_key, alert_interval_s=0.5, train_interval_s=0.5, theme_interval_s=3600,
        theme_min_size=10,
    )  # fmt: skip


@pytest.fixture
async def stack(database_url: str, nats_url: str, nats_prefix: str) -> AsyncIterator[Stack]:
    for spec in (GATEWAY, INGEST, INSIGHT):
        await upgrade(database_url, spec.name, spec.migrations)
    ingest_port, insight_port, gateway_port = free_port(), free_port(), free_port()
    common = {
        "database_url": database_url,
        "nats_url": nats_url,
        "nats_prefix": nats_prefix,
        "internal_token_secret": SECRET,
    }
    ingest = IngestSettings(**common, master_key=MasterKey.generate(), erasure_services=("ingest", "insight"))
    insight = insight_settings(common, MasterKey.generate())
    gateway = GatewaySettings(
        **common, admin_token=ADMIN_TOKEN, ingest_url=f"http://127.0.0.1:{ingest_port}",
        insight_url=f"http://127.0.0.1:{insight_port}",
    )  # fmt: skip
    async with contextlib.AsyncExitStack() as stack_:
        await stack_.enter_async_context(serve(create_app(INGEST, "all", ingest), ingest_port))
        insight_app = create_app(INSIGHT, "all", insight)
        await stack_.enter_async_context(serve(insight_app, insight_port))
        url = await stack_.enter_async_context(serve(create_app(GATEWAY, "all", gateway), gateway_port))
        admin = await stack_.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        runtime = insight_app.state.runtime
        result = Stack(url, admin, build(runtime), database_url)
        try:
            yield result
        finally:
            for client in result.clients:
                await client.aclose()
