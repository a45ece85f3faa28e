"""`GET /v1/stream`: a tenant's own events as Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import nats

from cxm_common.envelope import Envelope
from cxm_common.jetstream import HEADER_MSG_ID, HEADER_TENANT, HEADER_TYPE, ensure_stream, subject_for
from tests.gateway.integration.conftest import GatewayFactory, bearer, new_tenant


async def publish(nats_url: str, prefix: str, tenant: str, n: int) -> str:
    """Publish one insight event for `tenant`, as the relay would; return its id."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, "insight", prefix=prefix)
    event = Envelope("insight.feedback.analyzed.v1", "insight", f"f-{n}", uuid.UUID(tenant), {"n": n})
    await js.publish(
        subject_for(event.type, prefix),
        event.to_json(),
        headers={HEADER_MSG_ID: str(event.id), HEADER_TENANT: tenant, HEADER_TYPE: event.type},
    )
    await nc.close()
    return str(event.id)


async def frames(response: httpx.Response) -> AsyncIterator[dict[str, str]]:
    """Parse SSE frames (skipping comments and the retry hint)."""
    frame: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in frame:
                yield frame
            frame = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            frame[field] = value


async def take(response: httpx.Response, count: int) -> list[dict[str, str]]:
    out = []
    async with asyncio.timeout(10):
        async for frame in frames(response):
            out.append(frame)
            if len(out) == count:
                break
    return out


async def test_a_tenant_sees_only_its_own_events_and_resumes_without_loss(
    gateway: GatewayFactory, nats_url: str, nats_prefix: str
) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        a, b = await new_tenant(client, "a"), await new_tenant(client, "b")
        await publish(nats_url, nats_prefix, b["tenant_id"], 0)  # the stream exists before anyone watches
        async with client.stream("GET", "/v1/stream", headers=bearer(a["api_key"])) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.5)  # let the subscriptions start
            await publish(nats_url, nats_prefix, b["tenant_id"], 1)
            first = await publish(nats_url, nats_prefix, a["tenant_id"], 2)
            [frame] = await take(response, 1)
        assert frame["event"] == "insight.feedback.analyzed.v1"
        assert json.loads(frame["data"])["id"] == first
        # While disconnected, more events arrive; the reconnect resumes from the last id it saw.
        second = await publish(nats_url, nats_prefix, a["tenant_id"], 3)
        await publish(nats_url, nats_prefix, b["tenant_id"], 4)
        third = await publish(nats_url, nats_prefix, a["tenant_id"], 5)
        headers = {**bearer(a["api_key"]), "Last-Event-ID": frame["id"]}
        async with client.stream("GET", "/v1/stream", headers=headers) as response:
            resumed = await take(response, 2)
        assert [json.loads(f["data"])["id"] for f in resumed] == [second, third]


async def test_browsers_use_a_short_lived_token_in_the_query(
    gateway: GatewayFactory, nats_url: str, nats_prefix: str
) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        a = await new_tenant(client, "a")
        await publish(nats_url, nats_prefix, a["tenant_id"], 0)
        token = (await client.post("/v1/stream/tokens", headers=bearer(a["api_key"]))).json()["token"]
        async with client.stream("GET", f"/v1/stream?token={token}") as response:
            assert response.status_code == 200
        async with client.stream("GET", "/v1/stream?token=forged") as response:
            assert response.status_code == 401
        # A stream token is no API key anywhere else.
        assert (await client.get("/v1/api-keys", headers=bearer(token))).status_code == 401


async def test_a_tampered_last_event_id_is_400(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        a = await new_tenant(client, "a")
        response = await client.get("/v1/stream", headers={**bearer(a["api_key"]), "Last-Event-ID": "x;drop"})
        assert response.status_code == 400
