"""The gateway in front of the real ingest service, both on real ports, on real Postgres and NATS."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
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
from tests.gateway.integration.conftest import ADMIN_TOKEN, SECRET, serve


@dataclass
class Stack:
    """A running gateway + ingest and a client on the gateway."""

    url: str
    client: httpx.AsyncClient
    public_base_url: str

    async def tenant(self, name: str = "acme") -> dict[str, Any]:
        response = await self.client.post(
            "/v1/admin/tenants", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
async def stack(database_url: str, nats_url: str, nats_prefix: str) -> AsyncIterator[Stack]:
    await upgrade(database_url, "gateway", GATEWAY.migrations)
    await upgrade(database_url, "ingest", INGEST.migrations)
    ingest_port, gateway_port = free_port(), free_port()
    public = f"http://127.0.0.1:{gateway_port}"
    common = {
        "database_url": database_url,
        "nats_url": nats_url,
        "nats_prefix": nats_prefix,
        "internal_token_secret": SECRET,
    }
    ingest = IngestSettings(
        **common, master_key=MasterKey.generate(), public_base_url=public, erasure_services=("ingest",)
    )
    gateway = GatewaySettings(**common, admin_token=ADMIN_TOKEN, ingest_url=f"http://127.0.0.1:{ingest_port}")
    async with (
        contextlib.AsyncExitStack() as stack_,
    ):
        await stack_.enter_async_context(serve(create_app(INGEST, "all", ingest), ingest_port))
        url = await stack_.enter_async_context(serve(create_app(GATEWAY, "all", gateway), gateway_port))
        client = await stack_.enter_async_context(httpx.AsyncClient(base_url=url, timeout=15))
        yield Stack(url, client, public)
