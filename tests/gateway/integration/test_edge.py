"""The gateway's edge: tenants and keys, the trust boundary, limits, errors and the merged API document."""

from __future__ import annotations

import asyncio
import logging
import uuid

import httpx
import pytest

from cxm_common.embedded import EmbeddedPostgres
from tests.gateway.integration.conftest import ADMIN_TOKEN, GatewayFactory, bearer, new_tenant


async def test_an_operator_creates_a_tenant_whose_key_works_at_once(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        tenant = await new_tenant(client)
        assert tenant["api_key"].startswith("cxm_")
        keys = await client.get("/v1/api-keys", headers=bearer(tenant["api_key"]))
        assert keys.status_code == 200
        [key] = keys.json()["items"]
        assert key["id"] == tenant["key_id"] and "key" not in key
        assert key["prefix"] == tenant["api_key"][: len(key["prefix"])]


async def test_creating_a_tenant_needs_the_operator_token(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = await client.post("/v1/admin/tenants", json={"name": "x"}, headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == "application/problem+json"


async def test_no_key_or_a_bad_key_is_401_and_a_missing_scope_is_403(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        tenant = await new_tenant(client)
        reader = await client.post(
            "/v1/api-keys", json={"name": "reader", "scopes": ["ingest:read"]}, headers=bearer(tenant["api_key"])
        )
        assert reader.status_code == 201
        no_key = await client.post("/v1/feedback", json={})
        assert no_key.status_code == 401 and no_key.headers["www-authenticate"] == "Bearer"
        bad_key = await client.post("/v1/feedback", json={}, headers=bearer("cxm_aaaaaaaaaaaa_" + "A" * 43))
        assert bad_key.status_code == 401
        wrong_scope = await client.post("/v1/feedback", json={}, headers=bearer(reader.json()["key"]))
        assert wrong_scope.status_code == 403
        not_admin = await client.get("/v1/api-keys", headers=bearer(reader.json()["key"]))
        assert not_admin.status_code == 403


async def test_a_revoked_key_stops_working(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        tenant = await new_tenant(client)
        admin = bearer(tenant["api_key"])
        other = (
            await client.post("/v1/api-keys", json={"name": "w", "scopes": ["ingest:write"]}, headers=admin)
        ).json()
        assert (await client.post("/v1/feedback", json={}, headers=bearer(other["key"]))).status_code == 202
        assert (await client.delete(f"/v1/api-keys/{other['id']}", headers=admin)).status_code == 204
        assert (await client.post("/v1/feedback", json={}, headers=bearer(other["key"]))).status_code == 401
        listed = (await client.get("/v1/api-keys", headers=admin)).json()["items"]
        assert [k["revoked_at"] is not None for k in listed if k["id"] == other["id"]] == [True]


async def test_a_tenant_cannot_touch_another_tenants_keys(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        a, b = await new_tenant(client, "a"), await new_tenant(client, "b")
        assert (await client.delete(f"/v1/api-keys/{b['key_id']}", headers=bearer(a["api_key"]))).status_code == 404
        assert [k["id"] for k in (await client.get("/v1/api-keys", headers=bearer(a["api_key"]))).json()["items"]] == [
            a["key_id"]
        ]
        assert (await client.get("/v1/api-keys", headers=bearer(b["api_key"]))).status_code == 200


async def test_the_tenant_comes_from_the_key_never_from_headers_or_body(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        a, b = await new_tenant(client, "a"), await new_tenant(client, "b")
        response = await client.post(
            "/v1/feedback",
            json={"tenant_id": b["tenant_id"], "text": "hi"},
            headers={
                **bearer(a["api_key"]),
                "X-Tenant-Id": b["tenant_id"],
                "X-Forwarded-For": "10.0.0.1",
                "X-Forwarded-Host": "evil.example",
                "X-Cxm-Internal-Token": "forged",
            },
        )
        echoed = response.json()
        assert response.status_code == 202
        assert echoed["tenant"] == a["tenant_id"]
        assert not {"x-tenant-id", "x-forwarded-for", "x-forwarded-host", "authorization"} & set(echoed["headers"])


async def test_webhooks_pass_through_byte_for_byte_without_an_api_key(gateway: GatewayFactory) -> None:
    raw = b'{"b": 1,  "a":"\\u00e9"}\n'
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.post(
            "/v1/webhooks/freshdesk/conn-1",
            content=raw,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "X-Zendesk-Webhook-Signature": "c2lnbmF0dXJl",
                "Authorization": "Basic dXNlcjpwYXNz",
            },
        )
    echoed = response.json()
    assert response.status_code == 200
    assert bytes.fromhex(echoed["raw"]) == raw
    assert echoed["headers"]["x-zendesk-webhook-signature"] == "c2lnbmF0dXJl"
    assert echoed["headers"]["authorization"] == "Basic dXNlcjpwYXNz"
    assert echoed["tenant"] == "None"


async def test_bodies_over_the_limit_are_413_before_being_read_whole(gateway: GatewayFactory) -> None:
    async with gateway(max_body_bytes=1000) as url, httpx.AsyncClient(base_url=url) as client:
        key = (await new_tenant(client))["api_key"]
        big = b'{"x": "' + b"a" * 2000 + b'"}'
        declared = await client.post(
            "/v1/feedback", content=big, headers={**bearer(key), "content-type": "application/json"}
        )
        assert declared.status_code == 413

        async def chunks():  # no Content-Length: counted while reading
            for _ in range(50):
                yield b"a" * 100

        streamed = await client.post("/v1/feedback", content=chunks(), headers=bearer(key))
        assert streamed.status_code == 413
        assert streamed.headers["content-type"] == "application/problem+json"


async def test_past_the_rate_a_key_gets_429_with_retry_after(gateway: GatewayFactory) -> None:
    async with gateway(rate_limit_per_s=1, rate_limit_burst=3) as url, httpx.AsyncClient(base_url=url) as client:
        key = (await new_tenant(client))["api_key"]
        statuses = [(await client.post("/v1/feedback", json={}, headers=bearer(key))).status_code for _ in range(5)]
        assert statuses[:3] == [202, 202, 202]
        limited = await client.post("/v1/feedback", json={}, headers=bearer(key))
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1


async def test_an_unreachable_service_is_503_with_retry_after_not_a_hang(gateway: GatewayFactory) -> None:
    async with gateway(ingest_up=False) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        key = (await new_tenant(client))["api_key"]
        response = await client.post("/v1/feedback", json={}, headers=bearer(key))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"
        assert response.json()["status"] == 503


@pytest.mark.fault
async def test_a_key_lookup_while_the_database_is_down_is_503_with_retry_after(
    gateway: GatewayFactory, own_postgres: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        gateway(database_url=own_postgres.url, key_cache_ttl_s=0) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        key = (await new_tenant(client))["api_key"]
        own_postgres.stop("immediate")
        responses = [await client.post("/v1/feedback", json={}, headers=bearer(key)) for _ in range(3)]
        own_postgres.start()
    assert [r.status_code for r in responses] == [503, 503, 503]
    assert all(r.headers["retry-after"] == "2" for r in responses)
    # Answered by the edge: nothing reached the server as a crash (which would also drop the connection).
    assert not [r for r in caplog.records if r.name.startswith("uvicorn") and r.levelno >= logging.ERROR]


async def test_beyond_a_services_in_flight_limit_requests_get_503_with_retry_after_at_once(
    gateway: GatewayFactory,
) -> None:
    limits = {"admission_min_in_flight": 2, "admission_max_in_flight": 2, "admission_retry_after_s": 3,
              "admission_queue_wait_s": 0.1}  # fmt: skip
    async with gateway(**limits) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        key = (await new_tenant(client))["api_key"]

        async def timed(path: str) -> tuple[int, float, str | None]:
            began = asyncio.get_running_loop().time()
            response = await client.post(path, json={}, headers=bearer(key))
            return response.status_code, asyncio.get_running_loop().time() - began, response.headers.get("retry-after")

        answers = await asyncio.gather(*(timed("/v1/interactions") for _ in range(6)))
        other_lane = await client.get(f"/v1/feedback/{uuid.uuid4()}", headers=bearer(key))
    accepted = [a for a in answers if a[0] == 202]
    refused = [a for a in answers if a[0] != 202]
    assert len(accepted) == 2
    assert {a[0] for a in refused} == {503}
    assert all(a[2] == "3" for a in refused)
    assert max(a[1] for a in refused) < min(a[1] for a in accepted)  # refused at once, not after queueing
    assert other_lane.status_code == 200  # reads have a lane of their own


async def test_a_burst_waits_briefly_for_slots_instead_of_being_refused(gateway: GatewayFactory) -> None:
    limits = {"admission_min_in_flight": 2, "admission_max_in_flight": 2, "admission_queue_wait_s": 2.0}
    async with gateway(**limits) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        key = (await new_tenant(client))["api_key"]
        statuses = await asyncio.gather(
            *(client.post("/v1/interactions", json={}, headers=bearer(key)) for _ in range(6))
        )
    assert [r.status_code for r in statuses] == [202] * 6  # three waves of two, each within the wait allowed


async def test_request_ids_are_echoed_or_assigned(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        key = (await new_tenant(client))["api_key"]
        mine = await client.post("/v1/feedback", json={}, headers={**bearer(key), "X-Request-Id": "req-123"})
        assert mine.headers["x-request-id"] == "req-123"
        assert mine.json()["headers"]["x-request-id"] == "req-123"
        assigned = await client.get("/healthz")
        assert len(assigned.headers["x-request-id"]) == 32


async def test_huge_headers_are_431(gateway: GatewayFactory) -> None:
    async with gateway(max_header_bytes=4096) as url, httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/v1/api-keys", headers={"X-Big": "a" * 5000})
        assert response.status_code == 431


async def test_cors_preflight_is_allowed_for_a_configured_origin_only(gateway: GatewayFactory) -> None:
    async with gateway(cors_origins=("https://app.example",)) as url, httpx.AsyncClient(base_url=url) as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
        allowed = await client.options("/v1/feedback", headers={"Origin": "https://app.example", **preflight})
        refused = await client.options("/v1/feedback", headers={"Origin": "https://evil.example", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example"
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


async def test_unknown_routes_and_methods_are_clear_4xx(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        key = (await new_tenant(client))["api_key"]
        missing = await client.get("/v1/nothing-here", headers=bearer(key))
        assert missing.status_code == 404
        wrong_method = await client.put("/v1/api-keys", headers=bearer(key))
        assert wrong_method.status_code == 405 and "GET" in wrong_method.headers["allow"]
        not_uuid = await client.get("/v1/feedback/not-a-uuid", headers=bearer(key))
        assert not_uuid.status_code == 422
        assert (await client.get(f"/v1/feedback/{uuid.uuid4()}", headers=bearer(key))).status_code == 200


async def test_one_api_document_merges_the_services(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        doc = (await client.get("/openapi.json")).json()
        assert {
            "/v1/api-keys",
            "/v1/admin/tenants",
            "/v1/stream",
            "/v1/feedback",
            "/v1/webhooks/{source}/{connection_id}",
        } <= set(doc["paths"])
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "/docs/static/swagger-ui-bundle.js" in docs.text
        assert (await client.get("/docs/static/swagger-ui-bundle.js")).status_code == 200


async def test_malformed_bodies_on_gateway_routes_are_clear_4xx(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        for body, ctype, status in [
            (b"{", "application/json", 400),
            (b'{"name": NaN}', "application/json", 400),
            (b"", "application/json", 422),
            (b"name=x", "text/plain", 415),
            (b'{"name": ""}', "application/json", 422),
        ]:
            response = await client.post("/v1/admin/tenants", content=body, headers={**admin, "content-type": ctype})
            assert response.status_code == status, (body, response.text)
        await asyncio.sleep(0)


async def test_dot_segments_are_refused(gateway: GatewayFactory) -> None:
    async with gateway() as url, httpx.AsyncClient(base_url=url) as client:
        key = (await new_tenant(client))["api_key"]
        # An encoded `..` would let a webhook path (no API key) reach another route once decoded upstream.
        response = await client.get("/v1/webhooks/..%2F..%2Fv1/feedback", headers=bearer(key))
        assert response.status_code == 400
