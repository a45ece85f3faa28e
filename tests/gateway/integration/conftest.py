"""A gateway on a real port in front of a stand-in for ingest, both served by uvicorn in this process."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request

from cxm_common.auth import principal_of, scoped, webhook_call
from cxm_common.embedded import free_port
from cxm_common.http import InternalAuthMiddleware
from cxm_common.migrations import upgrade
from cxm_common.problems import StrictJsonRoute, install_problem_handlers
from cxm_common.service import create_app
from cxm_gateway.config import Settings
from cxm_gateway.service import SPEC

SECRET = "gateway-tests-internal-secret-0123456789"
ADMIN_TOKEN = "operator-token-for-tests"


def ingest_stand_in() -> FastAPI:
    """Answers like a service behind the gateway: verifies the internal token and echoes what it received."""
    app = FastAPI(title="ingest stand-in")
    install_problem_handlers(app)
    app.router.route_class = StrictJsonRoute

    @app.post("/v1/feedback", status_code=202)
    async def feedback(body: dict[str, Any], request: Request, tenant: uuid.UUID = Depends(scoped("ingest:write"))):
        return {"tenant": str(tenant), "body": body, "headers": dict(request.headers)}

    @app.post("/v1/interactions", status_code=202)
    async def slow(body: dict[str, Any], tenant: uuid.UUID = Depends(scoped("ingest:write"))) -> dict[str, str]:
        await asyncio.sleep(0.5)  # a busy service: each request takes half a second
        return {"tenant": str(tenant)}

    @app.get("/v1/feedback/{feedback_id}")
    async def one(feedback_id: uuid.UUID, tenant: uuid.UUID = Depends(scoped("ingest:read"))) -> dict[str, str]:
        return {"id": str(feedback_id), "tenant": str(tenant)}

    @app.post("/v1/webhooks/{source}/{connection_id}")
    async def webhook(source: str, connection_id: str, request: Request, _: Any = Depends(webhook_call)):
        return {
            "raw": (await request.body()).hex(),
            "headers": dict(request.headers),
            "tenant": str(principal_of(request).tenant_id),
        }

    app.add_middleware(InternalAuthMiddleware, secret=SECRET)
    return app


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[str]:
    """Serve an ASGI app on 127.0.0.1:port until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(20):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[str]]


@pytest.fixture
def gateway(database_url: str, nats_url: str, nats_prefix: str) -> GatewayFactory:
    """Start a gateway (and the ingest stand-in) with optional setting overrides; yields its base URL."""

    @contextlib.asynccontextmanager
    async def start(ingest_up: bool = True, **overrides: Any) -> AsyncIterator[str]:
        ingest_port = free_port()
        options: dict[str, Any] = {
            "database_url": database_url,
            "nats_url": nats_url,
            "nats_prefix": nats_prefix,
            "internal_token_secret": SECRET,
            "admin_token": ADMIN_TOKEN,
            "ingest_url": f"http://127.0.0.1:{ingest_port}",
        }
        settings = Settings(**{**options, **overrides})
        await upgrade(settings.database_url, "gateway", SPEC.migrations)
        app = create_app(SPEC, "all", settings)
        async with contextlib.AsyncExitStack() as stack:
            if ingest_up:
                await stack.enter_async_context(serve(ingest_stand_in(), ingest_port))
            url = await stack.enter_async_context(serve(app, free_port()))
            yield url

    return start


async def new_tenant(client: httpx.AsyncClient, name: str = "acme") -> dict[str, Any]:
    """Create a tenant through the operator route; returns `{tenant_id, api_key, …}`."""
    response = await client.post(
        "/v1/admin/tenants", json={"name": name}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
