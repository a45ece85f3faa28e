"""App-store review polling against a local stand-in for both stores' APIs, stored through the real ingest."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common.crypto import MasterKey
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.embedded import free_port
from cxm_common.migrations import upgrade
from cxm_common.service import Runtime, create_app
from cxm_gateway.config import Settings as GatewaySettings
from cxm_gateway.service import SPEC as GATEWAY
from cxm_ingest.config import Settings as IngestSettings
from cxm_ingest.reviews.poller import PollResult, ReviewPoller
from cxm_ingest.service import SPEC as INGEST
from cxm_ingest.wiring import build
from tests.gateway.integration.conftest import ADMIN_TOKEN, SECRET, serve
from tests.ingest.integration.conftest import Stack

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reviews"
PACKAGE = "com.example.app"
APP_ID = "1500000001"
ISSUER = "57246542-96fe-1a63-e053-0824d011072a"
KEY_ID = "2X9R4HXF34"
ACCESS_TOKEN = "ya29.test-access-token"
GP_NEXT = "ExAmPlEnExTpAgEtOkEn"
AS_NEXT = "ExAmPlE"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> str:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def google_pages() -> dict[str | None, dict[str, Any]]:
    """The documented page, then a second page with an older, anonymous review."""
    first = json.loads((FIXTURES / "google_play_review.json").read_text())
    older = copy.deepcopy(first["reviews"][0])
    older.update(reviewId="gp:older", comments=[older["comments"][0]])
    del older["authorName"]
    older["comments"][0]["userComment"].update(
        text="\tLove it\tWorks great offline.", starRating=5, lastModified={"seconds": "1741900000", "nanos": 0}
    )
    return {None: first, GP_NEXT: {"reviews": [older]}}


def apple_pages() -> dict[str | None, dict[str, Any]]:
    """The documented page (its `links.next` names Apple's host), then a second page with an older review."""
    first = json.loads((FIXTURES / "app_store_review.json").read_text())
    older = copy.deepcopy(first["data"][0])
    older["id"] = "00000042-a1b2-0003-c4d5-e6f700000001"
    older["attributes"] = {
        "rating": 4,
        "title": "Solid",
        "body": "Does the job.",
        "createdDate": "2025-03-13T18:00:00Z",
        "territory": "FRA",
    }
    return {None: first, AS_NEXT: {"data": [older], "links": {"self": "x"}, "meta": {"paging": {"total": 2}}}}


@dataclass
class Stores:
    """Both stores' APIs and Google's token endpoint, checking every credential they are shown."""

    base_url: str
    google: dict[str | None, dict[str, Any]] = field(default_factory=google_pages)
    apple: dict[str | None, dict[str, Any]] = field(default_factory=apple_pages)
    failures: dict[str, list[tuple[int, dict[str, str]]]] = field(
        default_factory=lambda: {"google_play": [], "app_store": []}
    )
    assertions: list[dict[str, Any]] = field(default_factory=list)  # (header, claims) of each token request
    bearers: list[str] = field(default_factory=list)  # Google Play API calls' Authorization headers
    apple_tokens: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    delay_s: float = 0.0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self.token)
        app.router.add_get("/androidpublisher/v3/applications/{package}/reviews", self.google_reviews)
        app.router.add_get("/v1/apps/{app}/customerReviews", self.apple_reviews)
        return app

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        assertion = str(form.get("assertion"))
        try:
            claims = jwt.decode(
                assertion, RSA_KEY.public_key(), algorithms=["RS256"], audience=f"{self.base_url}/token"
            )
        except jwt.PyJWTError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        self.assertions.append({"header": jwt.get_unverified_header(assertion), "claims": claims})
        return web.json_response({"access_token": ACCESS_TOKEN, "expires_in": 3599, "token_type": "Bearer"})

    async def google_reviews(self, request: web.Request) -> web.Response:
        self.requests.append(f"google_play {request.path_qs}")
        await asyncio.sleep(self.delay_s)
        authorization = request.headers.get("Authorization", "")
        self.bearers.append(authorization)
        if authorization != f"Bearer {ACCESS_TOKEN}" or request.match_info["package"] != PACKAGE:
            return web.json_response({"error": {"code": 401}}, status=401)
        if self.failures["google_play"]:
            status, headers = self.failures["google_play"].pop(0)
            return web.json_response({"error": {"code": status}}, status=status, headers=headers)
        return web.json_response(self.google[request.query.get("token")])

    async def apple_reviews(self, request: web.Request) -> web.Response:
        self.requests.append(f"app_store {request.path_qs}")
        await asyncio.sleep(self.delay_s)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        try:
            claims = jwt.decode(token, EC_KEY.public_key(), algorithms=["ES256"], audience="appstoreconnect-v1")
        except jwt.PyJWTError:
            return web.json_response({"errors": [{"status": "401"}]}, status=401)
        header = jwt.get_unverified_header(token)
        self.apple_tokens.append((header, claims))
        if scheme != "Bearer" or header.get("kid") != KEY_ID or claims.get("iss") != ISSUER:
            return web.json_response({"errors": [{"status": "401"}]}, status=401)
        if self.failures["app_store"]:
            status, headers = self.failures["app_store"].pop(0)
            return web.json_response({"errors": [{"status": str(status)}]}, status=status, headers=headers)
        return web.json_response(self.apple[request.query.get("cursor")])


@dataclass
class Env:
    """The stack, a poller on the same settings, and the stores' stand-in."""

    stack: Stack
    poller: ReviewPoller
    engine: AsyncEngine
    stores: Stores


@pytest.fixture
async def env(database_url: str, nats_url: str, nats_prefix: str) -> AsyncIterator[Env]:
    """The `stack` fixture's gateway + ingest, with ingest's settings kept to build a poller from them.

    Ingest serves only its API here, so no background poller races the rounds the tests run themselves.
    """
    await upgrade(database_url, "gateway", GATEWAY.migrations)
    await upgrade(database_url, "ingest", INGEST.migrations)
    ingest_port, gateway_port, stores_port = free_port(), free_port(), free_port()
    public = f"http://127.0.0.1:{gateway_port}"
    common = {
        "database_url": database_url,
        "nats_url": nats_url,
        "nats_prefix": nats_prefix,
        "internal_token_secret": SECRET,
    }
    ingest = IngestSettings(
        **common, master_key=MasterKey.generate(), public_base_url=public, review_api_hosts=("127.0.0.1", "localhost")
    )
    gateway = GatewaySettings(**common, admin_token=ADMIN_TOKEN, ingest_url=f"http://127.0.0.1:{ingest_port}")
    stores = Stores(f"http://127.0.0.1:{stores_port}")
    async with contextlib.AsyncExitStack() as stack_:
        runner = web.AppRunner(stores.app())
        await runner.setup()
        stack_.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", stores_port).start()
        await stack_.enter_async_context(serve(create_app(INGEST, "api", ingest), ingest_port))
        url = await stack_.enter_async_context(serve(create_app(GATEWAY, "all", gateway), gateway_port))
        client = await stack_.enter_async_context(httpx.AsyncClient(base_url=url, timeout=15))
        runtime = Runtime(INGEST, ingest, "schedule")
        stack_.push_async_callback(runtime.engine.dispose)
        yield Env(Stack(url, client, public), ReviewPoller(build(runtime), timeout_s=5), runtime.engine, stores)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def connect(env: Env, key: str, source: str, config: dict[str, Any]) -> dict[str, Any]:
    response = await env.stack.client.post(
        "/v1/connections", json={"source": source, "name": source, "config": config}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def connect_both(env: Env, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    account = {
        "type": "service_account",
        "private_key_id": "key-1",
        "private_key": pem(RSA_KEY),
        "client_email": "reviews@example.iam.gserviceaccount.com",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    base = env.stores.base_url
    google = await connect(env, key, "google_play", {
        "package_name": PACKAGE, "service_account_json": json.dumps(account), "api_base_url": base,
        "token_url": f"{base}/token", "poll_interval_s": 600,
    })  # fmt: skip
    apple = await connect(env, key, "app_store", {
        "app_id": APP_ID, "issuer_id": ISSUER, "key_id": KEY_ID, "private_key": pem(EC_KEY), "api_base_url": base,
    })  # fmt: skip
    return google, apple


async def feedback(env: Env, key: str) -> list[dict[str, Any]]:
    response = await env.stack.client.get("/v1/feedback", params={"limit": 100}, headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def deliveries(env: Env, key: str, connection: dict[str, Any]) -> list[dict[str, Any]]:
    response = await env.stack.client.get(f"/v1/connections/{connection['id']}/deliveries", headers=bearer(key))
    return response.json()["items"]  # type: ignore[no-any-return]


async def polls(env: Env) -> dict[str, dict[str, Any]]:
    async with env.engine.begin() as conn:
        await set_tenant(conn, ALL_TENANTS)
        rows = await (await driver(conn)).fetch("SELECT * FROM review_polls")
    return {str(row["connection_id"]): dict(row) for row in rows}


def by_connection(results: list[PollResult]) -> dict[str, PollResult]:
    return {str(result.connection_id): result for result in results}


async def test_reviews_are_polled_stored_once_and_the_mark_advances_past_a_rate_limit(env: Env) -> None:
    key = (await env.stack.tenant())["api_key"]
    google, apple = await connect_both(env, key)
    assert google["config"]["poll_interval_s"] == 600 and apple["config"]["poll_interval_s"] == 3600

    first = by_connection(await env.poller.poll_once())

    assert first[google["id"]].outcome == first[apple["id"]].outcome == "accepted"
    assert first[google["id"]].stored == first[apple["id"]].stored == 2
    items = await feedback(env, key)
    assert len(items) == 4 and {item["channel"] for item in items} == {"review"}
    texts = {item["external_id"]: item for item in items}
    documented = texts["gp:AOqpTOExAmPlE_ReViEw_Id_0001:1741944120"]
    assert documented["source"] == "google_play" and documented["scores"]["csat"] == 2
    assert documented["text"].startswith("App crashes") and documented["customer_id"] is not None
    assert documented["metadata"]["app_version"] == "4.2.13" and documented["connection_id"] == google["id"]
    assert texts["gp:older:1741900000"]["customer_id"] is None  # anonymous
    assert texts["gp:older:1741900000"]["text"] == "Love it\nWorks great offline."
    apple_review = texts["00000042-a1b2-0003-c4d5-e6f700000000"]
    assert apple_review["source"] == "app_store" and apple_review["text"].startswith("Export keeps failing\n")
    assert apple_review["metadata"]["territory"] == "USA" and apple_review["customer_id"] is not None

    # Credentials: one RS256 assertion exchanged for a token, then that bearer; a fresh ES256 JWT per App Store page.
    [exchange] = env.stores.assertions
    assert exchange["header"] == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    assert exchange["claims"]["iss"] == "reviews@example.iam.gserviceaccount.com"
    assert exchange["claims"]["scope"] == "https://www.googleapis.com/auth/androidpublisher"
    assert exchange["claims"]["exp"] - exchange["claims"]["iat"] == 3600
    assert env.stores.bearers == [f"Bearer {ACCESS_TOKEN}"] * 2
    assert len(env.stores.apple_tokens) == 2
    for header, claims in env.stores.apple_tokens:
        assert header == {"alg": "ES256", "typ": "JWT", "kid": KEY_ID}
        assert claims["iss"] == ISSUER and 0 < claims["exp"] - claims["iat"] <= 20 * 60
    # Apple's `links.next` names its own host; the poller followed it on the configured one.
    assert f"app_store /v1/apps/{APP_ID}/customerReviews?cursor=ExAmPlE&limit=1&sort=-createdDate" in (
        env.stores.requests
    )

    marks = await polls(env)
    assert marks[google["id"]]["high_water"] == datetime.fromtimestamp(1741944120, tz=UTC) + timedelta(
        microseconds=271000
    )
    assert marks[apple["id"]]["high_water"] == datetime(2025, 3, 14, 9, 41, 9, tzinfo=UTC)
    assert marks[google["id"]]["last_error"] is None

    # Not due again yet; once due, a second round reads the same reviews and stores nothing new, even when two
    # pollers (two replicas) run it at once: each connection is polled by one of them.
    assert await env.poller.poll_once() == []
    later = datetime.now(UTC) + timedelta(hours=2)
    other = ReviewPoller(env.poller.ctx, timeout_s=5)
    rounds = await asyncio.gather(env.poller.poll_once(later), other.poll_once(later))
    second = by_connection([result for results in rounds for result in results])
    assert len(rounds[0]) + len(rounds[1]) == 2
    assert second[google["id"]].outcome == second[apple["id"]].outcome == "ignored"
    assert second[google["id"]].stored == second[apple["id"]].stored == 0
    assert len(await feedback(env, key)) == 4

    # A new Google review moves that mark; App Store answers 429 with Retry-After, which is logged, not fatal.
    fresh = copy.deepcopy(env.stores.google[None]["reviews"][0])
    fresh["reviewId"] = "gp:fresh"
    fresh["comments"][0]["userComment"].update(text="New crash", lastModified={"seconds": "1741990000", "nanos": 0})
    env.stores.google[None]["reviews"].insert(0, fresh)
    env.stores.failures["app_store"].append((429, {"Retry-After": "120"}))
    third_at = later + timedelta(hours=2)

    third = by_connection(await env.poller.poll_once(third_at))

    assert third[google["id"]].outcome == "accepted" and third[google["id"]].stored == 1
    assert third[apple["id"]].outcome == "error" and "HTTP 429" in third[apple["id"]].reason
    marks = await polls(env)
    assert marks[google["id"]]["high_water"] == datetime.fromtimestamp(1741990000, tz=UTC)
    assert marks[apple["id"]]["high_water"] == datetime(2025, 3, 14, 9, 41, 9, tzinfo=UTC)
    assert "HTTP 429" in marks[apple["id"]]["last_error"]

    # Retried once Retry-After has passed (not before), and then a new App Store review is stored.
    newest = copy.deepcopy(env.stores.apple[None]["data"][0])
    newest["id"] = "00000042-a1b2-0003-c4d5-e6f700000002"
    newest["attributes"].update(title="Better", createdDate="2025-03-15T08:00:00Z")
    env.stores.apple[None]["data"].insert(0, newest)
    assert await env.poller.poll_once(third_at + timedelta(seconds=60)) == []

    retried = by_connection(await env.poller.poll_once(third_at + timedelta(seconds=121)))

    assert list(retried) == [apple["id"]]
    assert retried[apple["id"]].outcome == "accepted" and retried[apple["id"]].stored == 1
    marks = await polls(env)
    assert marks[apple["id"]]["high_water"] == datetime(2025, 3, 15, 8, 0, tzinfo=UTC)
    assert marks[apple["id"]]["last_error"] is None
    items = await feedback(env, key)
    assert len(items) == 6 and len({item["id"] for item in items}) == 6

    log = await deliveries(env, key, apple)
    assert [d["outcome"] for d in log] == ["accepted", "error", "ignored", "accepted"]
    assert [d["records"] for d in log] == [1, 0, 0, 2]
    assert "HTTP 429" in log[1]["reason"]
    assert [d["outcome"] for d in await deliveries(env, key, google)] == ["accepted", "ignored", "accepted"]


async def test_failures_are_logged_on_the_connection_and_never_stop_a_round(env: Env) -> None:
    key = (await env.stack.tenant())["api_key"]
    google, apple = await connect_both(env, key)
    env.stores.failures["google_play"].append((503, {}))
    env.stores.failures["app_store"].append((401, {}))

    first = by_connection(await env.poller.poll_once())

    assert first[google["id"]].outcome == "error" and "HTTP 503" in first[google["id"]].reason
    assert first[apple["id"]].outcome == "refused" and "HTTP 401" in first[apple["id"]].reason
    assert await feedback(env, key) == []
    # A transient error is retried within minutes; a refusal only after a poll interval.
    soon = by_connection(await env.poller.poll_once(datetime.now(UTC) + timedelta(seconds=601)))
    assert list(soon) == [google["id"]] and soon[google["id"]].stored == 2
    later = by_connection(await env.poller.poll_once(datetime.now(UTC) + timedelta(seconds=3601)))
    assert later[apple["id"]].outcome == "accepted" and later[apple["id"]].stored == 2
    assert [d["outcome"] for d in await deliveries(env, key, apple)] == ["accepted", "refused"]

    # A store that does not answer in time is an error too, and the webhook route refuses polled sources.
    env.stores.delay_s = 1.0
    impatient = ReviewPoller(env.poller.ctx, timeout_s=0.3)
    timed_out = by_connection(await impatient.poll_once(datetime.now(UTC) + timedelta(days=1)))
    assert {result.outcome for result in timed_out.values()} == {"error"}
    assert "did not answer within 0.3 s" in timed_out[apple["id"]].reason
    refused = await env.stack.client.post(google["webhook_url"], content=b"{}")
    assert refused.status_code == 401 and "polled" in refused.text


async def test_hosts_the_operator_has_not_allowed_are_never_called(env: Env) -> None:
    key = (await env.stack.tenant())["api_key"]
    sneaky = await connect(env, key, "app_store", {
        "app_id": APP_ID, "issuer_id": ISSUER, "key_id": KEY_ID, "private_key": pem(EC_KEY),
        "api_base_url": "https://169.254.169.254/latest",
    })  # fmt: skip
    result = by_connection(await env.poller.poll_once())[sneaky["id"]]
    assert result.outcome == "refused" and "CXM_INGEST_REVIEW_API_HOSTS" in result.reason
