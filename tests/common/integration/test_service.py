"""A service built on the kit, end to end: HTTP → event store → outbox → JetStream → consumer, one trace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from cxm_common.auth import INTERNAL_TOKEN_HEADER, Principal, issue_token
from cxm_common.embedded import EmbeddedPostgres
from cxm_common.migrations import upgrade
from cxm_common.observability import setup_tracing
from cxm_common.projections import replay
from cxm_common.service import Runtime, create_app
from cxm_common.settings import CommonSettings
from tests.common.sample_service import MIGRATIONS_DIR, TENANT, make_spec

SECRET = "internal-secret-for-tests-0123456789abcdef"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
async def app(database_url: str, nats_url: str, nats_prefix: str) -> AsyncIterator[FastAPI]:
    setup_tracing("sample")
    await upgrade(database_url, "sample", MIGRATIONS_DIR)
    settings = CommonSettings(
        database_url=database_url, nats_url=nats_url, nats_prefix=nats_prefix, internal_token_secret=SECRET
    )
    application = create_app(make_spec(settings), "all", settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    token = issue_token(SECRET, Principal(tenant_id=TENANT, scopes=frozenset({"ingest:write"})))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sample", headers={INTERNAL_TOKEN_HEADER: token}
    ) as c:
        yield c


async def eventually(probe: Any, timeout: float = 10) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.05)


async def test_is_ready_once_database_nats_and_migrations_are(client: httpx.AsyncClient) -> None:
    async def ready() -> dict[str, Any] | None:
        response = await client.get("/readyz")
        return response.json() if response.status_code == 200 else None

    report = await eventually(ready)
    assert report["checks"] == {"database": "ok", "migrations": "ok", "nats": "ok"}
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_a_write_reaches_the_consumer_within_the_same_trace(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post("/notes", json={"body": "hello"}, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 202
    runtime: Runtime = app.state.runtime

    async def seen() -> list[Any]:
        async with runtime.engine.connect() as conn:
            return list(await conn.execute(text("SELECT trace_id FROM seen")))

    rows = await eventually(seen)
    assert [r.trace_id for r in rows] == [TRACE_ID]


async def test_unmigrated_database_is_not_ready(database_url: str, nats_url: str) -> None:
    settings = CommonSettings(database_url=database_url, nats_url=nats_url)
    application = create_app(make_spec(settings), "api", settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://s") as c,
    ):
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] != "ok"


async def test_metrics_report_request_latency_by_route(client: httpx.AsyncClient) -> None:
    await client.post("/notes", json={"body": "x"})
    body = (await client.get("/metrics")).text
    assert 'cxm_http_request_duration_seconds_count{method="POST",route="/notes",service="sample",status="2xx"}' in body


async def test_replay_rebuilds_read_models_from_the_event_store(app: FastAPI, client: httpx.AsyncClient) -> None:
    for body in ("a", "b", "c"):
        await client.post("/notes", json={"body": body})
    runtime: Runtime = app.state.runtime
    async with runtime.engine.begin() as conn:
        await conn.execute(text("UPDATE notes SET body = 'corrupted'"))
    assert await replay(runtime.engine, runtime.spec.projections()) == 3
    async with runtime.engine.connect() as conn:
        bodies = sorted(await conn.scalars(text("SELECT body FROM notes")))
    assert bodies == ["a", "b", "c"]


async def test_a_request_without_the_gateways_token_is_refused(app: FastAPI) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as anonymous:
        response = await anonymous.post("/notes", json={"body": "x"})
        forged = await anonymous.post(
            "/notes",
            json={"body": "x"},
            headers={
                INTERNAL_TOKEN_HEADER: issue_token(
                    "another-secret-0123456789abcdef0123456789", Principal(TENANT, frozenset({"admin"}))
                )
            },
        )
    assert response.status_code == forged.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_expired_token_is_refused(app: FastAPI) -> None:
    token = issue_token(SECRET, Principal(TENANT, frozenset({"ingest:write"})), ttl_s=-60)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await c.post("/notes", json={"body": "x"}, headers={INTERNAL_TOKEN_HEADER: token})
    assert response.status_code == 401


async def test_a_key_without_the_scope_gets_403(app: FastAPI) -> None:
    token = issue_token(SECRET, Principal(TENANT, frozenset({"ingest:read"})))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        response = await c.post("/notes", json={"body": "x"}, headers={INTERNAL_TOKEN_HEADER: token})
    assert response.status_code == 403
    assert "ingest:write" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b'{"body": NaN}', "application/json", 400),
        (b'{"body": Infinity}', "application/json", 400),
        (rb'{"body": "a\\u0000b"}', "application/json", 202),  # an escaped backslash, then "u0000"
        (rb'{"body": "a\u0000b"}', "application/json", 400),
        (rb'{"body": "\ud800"}', "application/json", 400),
        (b'{"body": "\xff"}', "application/json", 400),
        (b"\xef\xbb\xbf{}", "application/json", 400),
        (b'{"body": "x",}', "application/json", 400),
        (b'{"body": "x"', "application/json", 400),
        (b"null", "application/json", 422),
        (b"[]", "application/json", 422),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 400),
        (b"body=x", "application/x-www-form-urlencoded", 415),
        (b'{"body": 1e309}', "application/json", 400),
        (rb'{"body": "\u202e\u200b\u0301 ok"}', "application/json", 202),
    ],
)
async def test_bad_bodies_get_a_clear_4xx(
    client: httpx.AsyncClient, body: bytes, content_type: str, status: int
) -> None:
    response = await client.post("/notes", content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.fault
async def test_a_database_outage_is_a_503_with_retry_after_answered_inside_the_app(
    own_postgres: EmbeddedPostgres, nats_url: str, nats_prefix: str
) -> None:
    # ASGITransport raises whatever the app lets escape: a handler of `Exception` answers and then re-raises,
    # which a real server logs as a crash and answers by closing the connection.
    await upgrade(own_postgres.url, "sample", MIGRATIONS_DIR)
    settings = CommonSettings(
        database_url=own_postgres.url, nats_url=nats_url, nats_prefix=nats_prefix, internal_token_secret=SECRET
    )
    application = create_app(make_spec(settings), "api", settings)
    token = issue_token(SECRET, Principal(tenant_id=TENANT, scopes=frozenset({"ingest:write"})))
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://s", headers={INTERNAL_TOKEN_HEADER: token}
        ) as c,
    ):
        assert (await c.post("/notes", json={"body": "before"})).status_code == 202
        own_postgres.stop("immediate")
        # The pooled connection the server dropped, then a fresh connection the server refuses.
        answers = [await c.post("/notes", json={"body": "during"}) for _ in range(3)]
        own_postgres.start()
        after = await eventually(lambda: _accepted(c), timeout=20)
    assert [a.status_code for a in answers] == [503, 503, 503]
    assert all(a.headers["retry-after"] == "2" for a in answers)
    assert all(a.headers["content-type"] == "application/problem+json" for a in answers)
    assert after.status_code == 202


async def _accepted(client: httpx.AsyncClient) -> httpx.Response | None:
    response = await client.post("/notes", json={"body": "after"})
    return response if response.status_code == 202 else None
