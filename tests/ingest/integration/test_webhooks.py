"""Every source's native request, built as the tool builds it, sent through the gateway."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from tests.ingest import signers
from tests.ingest.integration.conftest import Stack

FIXTURES = Path(__file__).parents[1] / "fixtures" / "webhooks"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def connect(stack: Stack, key: str, source: str, config: dict[str, Any]) -> dict[str, Any]:
    response = await stack.client.post(
        "/v1/connections", json={"source": source, "name": source, "config": config}, headers=bearer(key)
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def feedback(stack: Stack, key: str) -> list[dict[str, Any]]:
    return (await stack.client.get("/v1/feedback", headers=bearer(key))).json()["items"]  # type: ignore[no-any-return]


async def deliveries(stack: Stack, key: str, connection: dict[str, Any]) -> list[str]:
    response = await stack.client.get(f"/v1/connections/{connection['id']}/deliveries", headers=bearer(key))
    return [d["outcome"] for d in response.json()["items"]]


def path_of(url: str) -> str:
    return url.split("127.0.0.1", 1)[1].split("/", 1)[1].join(["/", ""])


async def test_typeform_valid_once_replay_is_a_no_op_and_forgeries_are_refused(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "typeform", {"secret": "tf-secret"})
    assert conn["config"] == {"secret": "tf-secret"}
    body = fixture("typeform_form_response.json")
    url = conn["webhook_url"]
    ok = await stack.client.post(url, content=body, headers=signers.typeform_headers("tf-secret", body))
    replay = await stack.client.post(url, content=body, headers=signers.typeform_headers("tf-secret", body))
    assert ok.status_code == replay.status_code == 200
    [stored] = await feedback(stack, key)
    assert stored["channel"] == "survey" and stored["scores"]["nps"] is not None
    tampered = body.replace(b"Xq7LmP2a", b"Xq7LmP2b")
    for content, headers in [
        (body, signers.typeform_headers("wrong", body)),
        (tampered, signers.typeform_headers("tf-secret", body)),
        (json.dumps(json.loads(body)).encode(), signers.typeform_headers("tf-secret", body)),
        (body, {"content-type": "application/json"}),
        (body, {"content-type": "application/json", "typeform-signature": "sha256="}),
    ]:
        refused = await stack.client.post(url, content=content, headers=headers)
        assert refused.status_code in (400, 401), refused.text  # never 404/410 to Typeform
    assert len(await feedback(stack, key)) == 1
    outcomes = await deliveries(stack, key, conn)
    assert outcomes.count("accepted") == 1 and outcomes.count("duplicate") == 1 and outcomes.count("refused") == 5


async def test_the_same_delivery_twenty_times_at_once_is_stored_once(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "typeform", {"secret": "s"})
    body = fixture("typeform_form_response.json")
    responses = await asyncio.gather(
        *(stack.client.post(conn["webhook_url"], content=body, headers=signers.typeform_headers("s", body))
          for _ in range(20))
    )  # fmt: skip
    assert {r.status_code for r in responses} == {200}
    assert len(await feedback(stack, key)) == 1


async def test_zendesk_timestamps_are_checked_within_five_minutes(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "zendesk", {"signing_secret": "zd"})
    body = fixture("zendesk_ticket_created.json")

    def at(offset_s: int) -> dict[str, str]:
        ts = (datetime.now(UTC) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return signers.zendesk_headers("zd", body, ts)

    assert (await stack.client.post(conn["webhook_url"], content=body, headers=at(-301))).status_code == 401
    assert (await stack.client.post(conn["webhook_url"], content=body, headers=at(301))).status_code == 401
    assert (await stack.client.post(conn["webhook_url"], content=body, headers=at(-295))).status_code == 200
    [ticket] = await feedback(stack, key)
    assert ticket["channel"] == "ticket"


async def test_one_person_from_zendesk_and_typeform_is_one_customer(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    zendesk = await connect(stack, key, "zendesk", {"signing_secret": "zd"})
    typeform = await connect(stack, key, "typeform", {"secret": "tf"})
    rating = json.loads(fixture("zendesk_satisfaction_rating.json"))
    rating["requester_id"] = "7881"
    zbody = json.dumps(rating).encode()
    ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await stack.client.post(zendesk["webhook_url"], content=zbody,
                                    headers=signers.zendesk_headers("zd", zbody, ts))).status_code == 200  # fmt: skip
    tbody = fixture("typeform_form_response.json")
    assert (await stack.client.post(typeform["webhook_url"], content=tbody,
                                    headers=signers.typeform_headers("tf", tbody))).status_code == 200  # fmt: skip
    items = await feedback(stack, key)
    assert len(items) == 2
    assert len({i["customer_id"] for i in items}) == 1
    by_email = (await stack.client.get("/v1/feedback", params={"customer_id": "dana.reyes@example.org"},
                                       headers=bearer(key))).json()["items"]  # fmt: skip
    assert len(by_email) == 2


async def test_hubspot_v3_batches_over_the_public_url(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "hubspot", {"client_secret": "hs"})
    body = fixture("hubspot_batch.json")
    ts = str(int(time.time() * 1000))
    ok = await stack.client.post(
        conn["webhook_url"], content=body, headers=signers.hubspot_headers("hs", conn["webhook_url"], body, ts)
    )
    assert ok.status_code == 200, ok.text
    wrong_url = await stack.client.post(
        conn["webhook_url"], content=body, headers=signers.hubspot_headers("hs", "https://elsewhere/x", body, ts)
    )
    assert wrong_url.status_code == 401
    assert "accepted" in await deliveries(stack, key, conn)


async def test_intercom_ping_is_acknowledged_and_stores_nothing(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "intercom", {"client_secret": "ic"})
    body = json.dumps({"type": "notification_event", "topic": "ping", "id": "notif_1", "data": {"item": {}}}).encode()
    response = await stack.client.post(conn["webhook_url"], content=body, headers=signers.intercom_headers("ic", body))
    assert response.status_code == 200
    assert await feedback(stack, key) == []
    assert await deliveries(stack, key, conn) == ["ignored"]


async def test_surveymonkey_head_check_and_signed_event(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "surveymonkey", {"api_key": "k", "api_secret": "s"})
    assert (await stack.client.head(conn["webhook_url"])).status_code == 200
    body = fixture("surveymonkey_response_completed.json")
    headers = signers.surveymonkey_headers("k", "s", body)
    assert (await stack.client.post(conn["webhook_url"], content=body, headers=headers)).status_code == 200
    assert len(await feedback(stack, key)) == 1


async def test_twilio_sms_gets_twiml_and_is_verified_over_the_public_url(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "twilio", {"auth_token": "tw"})
    form = fixture("twilio_sms.form").decode().strip()
    headers = signers.twilio_headers("tw", conn["webhook_url"], form)
    response = await stack.client.post(conn["webhook_url"], content=form.encode(), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml") and b"<Response" in response.content
    [sms] = await feedback(stack, key)
    assert sms["channel"] in ("sms", "chat")
    forged = signers.twilio_headers("other", conn["webhook_url"], form)
    assert (await stack.client.post(conn["webhook_url"], content=form.encode(), headers=forged)).status_code == 403


async def test_salesforce_gets_a_soap_ack_and_a_billion_laughs_is_a_quick_4xx(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "salesforce", {"organization_id": "00D5g000004ExAm"})
    assert "token" in conn["config"]
    body = signers.salesforce_outbound_message(
        "00D5g000004ExAmEAK", "04k000000000001", "Case",
        [("04l000000000001", {"Id": "500000000000001", "Status": "New", "ContactId": "003000000000001",
                              "Subject": "Card declined"})],
    )  # fmt: skip
    ok = await stack.client.post(conn["webhook_url"], content=body, headers=signers.SALESFORCE_HEADERS)
    assert ok.status_code == 200 and b"<Ack>true</Ack>" in ok.content
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>'
    )
    started = time.monotonic()
    refused = await stack.client.post(conn["webhook_url"], content=bomb, headers=signers.SALESFORCE_HEADERS)
    assert 400 <= refused.status_code < 500 and time.monotonic() - started < 2
    wrong_token = conn["webhook_url"].rsplit("/", 1)[0] + "/not-the-token"
    assert (await stack.client.post(wrong_token, content=body, headers=signers.SALESFORCE_HEADERS)).status_code == 401


async def test_freshdesk_basic_auth_and_delighted_url_token(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    fd = await connect(stack, key, "freshdesk", {})
    body = fixture("freshdesk_ticket.json")
    headers = signers.freshdesk_headers(fd["config"]["username"], fd["config"]["password"])
    assert (await stack.client.post(fd["webhook_url"], content=body, headers=headers)).status_code == 200
    bad = signers.freshdesk_headers(fd["config"]["username"], "nope")
    assert (await stack.client.post(fd["webhook_url"], content=body, headers=bad)).status_code == 401
    dl = await connect(stack, key, "delighted", {})
    dbody = fixture("delighted_survey_response.json")
    assert (
        await stack.client.post(dl["webhook_url"], content=dbody, headers=signers.DELIGHTED_HEADERS)
    ).status_code == 200
    assert len(await feedback(stack, key)) >= 2


async def test_generic_standard_webhooks_and_rotation_with_grace(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    conn = await connect(stack, key, "generic", {})
    old = conn["config"]["secret"]
    data = {"channel": "web", "customer": {"id": "crm-9"}, "text": "Great onboarding", "scores": {"csat": 5}}
    body = json.dumps({"type": "feedback", "data": data}).encode()
    ts = str(int(time.time()))
    first = await stack.client.post(
        conn["webhook_url"], content=body, headers=signers.standard_webhooks_headers(old, "msg_1", ts, body)
    )
    assert first.status_code == 200
    rotated = (await stack.client.post(f"/v1/connections/{conn['id']}/rotate", json={}, headers=bearer(key))).json()
    new = rotated["config"]["secret"]
    assert new != old
    for secret, msg in ((old, "msg_2"), (new, "msg_3")):  # both valid during the grace period
        headers = signers.standard_webhooks_headers(secret, msg, ts, body.replace(b"crm-9", msg.encode()))
        response = await stack.client.post(conn["webhook_url"], content=body.replace(b"crm-9", msg.encode()),
                                           headers=headers)  # fmt: skip
        assert response.status_code == 200, response.text
    listed = (await stack.client.get("/v1/connections", headers=bearer(key))).json()["items"]
    assert listed[0]["config"]["secret"].startswith("…")
    assert (await stack.client.delete(f"/v1/connections/{conn['id']}", headers=bearer(key))).status_code == 204
    gone = await stack.client.post(conn["webhook_url"], content=body,
                                   headers=signers.standard_webhooks_headers(new, "msg_4", ts, body))  # fmt: skip
    assert gone.status_code == 401


async def test_unused_connection_ids_and_sources_are_refused_without_storing(stack: Stack) -> None:
    key = (await stack.tenant())["api_key"]
    body = fixture("typeform_form_response.json")
    unknown = await stack.client.post(
        "/v1/webhooks/typeform/00000000-0000-7000-8000-000000000000",
        content=body, headers=signers.typeform_headers("x", body),
    )  # fmt: skip
    assert unknown.status_code == 401
    not_uuid = await stack.client.post(
        "/v1/webhooks/typeform/abc", content=body, headers=signers.typeform_headers("x", body)
    )
    assert not_uuid.status_code == 401
    assert (await stack.client.post("/v1/webhooks/nosuch/abc", content=b"{}")).status_code == 404
    bad_config = await stack.client.post(
        "/v1/connections", json={"source": "zendesk", "name": "z", "config": {"oops": 1}}, headers=bearer(key)
    )
    assert bad_config.status_code == 422
    assert urlencode({}) == ""
