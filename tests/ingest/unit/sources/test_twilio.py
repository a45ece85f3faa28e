"""Twilio: X-Twilio-Signature over the public URL and sorted form parameters; inbound SMS become feedback."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest
from cxm_ingest.sources.twilio import ADAPTER
from tests.ingest.signers import twilio_headers, twilio_json_request, twilio_signature

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
SMS = (FIXTURES / "twilio_sms.form").read_text().strip()
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
CONFIG = ADAPTER.prepare_config({"auth_token": AUTH_TOKEN})
URL = "https://cxm.example.com/v1/webhooks/twilio/0190c0de-0000-7000-8000-000000000005"
NOW = datetime(2025, 3, 14, 9, 50, 10, tzinfo=UTC)
MESSAGE_SID = "SM4f2c9e7a1b3d5f708192a3b4c5d6e7f8"


def inbound(
    form: str = SMS, *, url: str = URL, signed_url: str | None = None, token: str = AUTH_TOKEN
) -> WebhookRequest:
    headers = twilio_headers(token, signed_url or url, form)
    return WebhookRequest("POST", url, headers, form.encode(), received_at=NOW)


def sms(**params: str) -> str:
    base = {"MessageSid": MESSAGE_SID, "AccountSid": "AC00112233445566778899aabbccddeeff", "From": "+14155550123"}
    return urlencode({**base, "To": "+14155550100", "NumMedia": "0", **params})


def resigned(request: WebhookRequest, **headers: str) -> WebhookRequest:
    return WebhookRequest(
        request.method, request.url, {**request.headers, **headers}, request.body, received_at=request.received_at
    )


# --- config -------------------------------------------------------------------------------------------------------


def test_the_auth_token_is_required() -> None:
    assert CONFIG == {"auth_token": AUTH_TOKEN}
    assert ADAPTER.secret_fields == ("auth_token",)
    assert ADAPTER.uses_path_token is False


@pytest.mark.parametrize("config", [{}, {"auth_token": ""}, {"auth_token": 123}, {"auth_token": "x", "sid": "AC1"}])
def test_a_missing_auth_token_or_unknown_fields_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ADAPTER.prepare_config(config)


# --- verify -------------------------------------------------------------------------------------------------------


def test_the_documented_test_vector_verifies() -> None:
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    body = "CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212"
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ=",
    }
    request = WebhookRequest("POST", url, headers, body.encode(), received_at=NOW)

    ADAPTER.verify(request, ADAPTER.prepare_config({"auth_token": "12345"}), now=NOW)


def test_a_signed_inbound_sms_is_verified() -> None:
    ADAPTER.verify(inbound(), CONFIG, now=NOW)


def test_the_url_with_its_query_string_is_part_of_the_signature() -> None:
    url = URL + "?region=eu&b=2"

    ADAPTER.verify(inbound(url=url), CONFIG, now=NOW)
    with pytest.raises(Refused):
        ADAPTER.verify(inbound(url=url, signed_url=URL + "?b=2&region=eu"), CONFIG, now=NOW)


@pytest.mark.parametrize(
    ("url", "signed_url"),
    [
        (URL, URL.replace("cxm.example.com", "cxm.example.com:443")),
        (URL.replace("cxm.example.com", "cxm.example.com:443"), URL),
    ],
)
def test_a_signature_over_the_url_with_or_without_the_default_port_is_accepted(url: str, signed_url: str) -> None:
    ADAPTER.verify(inbound(url=url, signed_url=signed_url), CONFIG, now=NOW)


@pytest.mark.parametrize(
    "signed_url",
    [
        URL.replace("https://", "http://"),
        URL + "/",
        URL.replace("0005", "0006"),
        URL.replace("cxm.example.com", "cxm.example.com:8443"),
    ],
)
def test_a_signature_over_another_url_is_refused(signed_url: str) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(inbound(signed_url=signed_url), CONFIG, now=NOW)


def test_a_signature_made_with_another_auth_token_is_refused() -> None:
    with pytest.raises(Refused) as refused:
        ADAPTER.verify(inbound(token="fedcba9876543210fedcba9876543210"), CONFIG, now=NOW)
    assert refused.value.status == 403


@pytest.mark.parametrize(
    "tampered",
    [
        SMS.replace("Body=Thanks", "Body=Thank"),
        SMS + "&Extra=1",
        SMS.replace("&ApiVersion=2010-04-01", ""),
        SMS.replace("From=%2B14155550123", "From=%2B14155550124"),
    ],
)
def test_a_tampered_body_is_refused(tampered: str) -> None:
    request = inbound()
    changed = WebhookRequest("POST", URL, request.headers, tampered.encode(), received_at=NOW)

    with pytest.raises(Refused):
        ADAPTER.verify(changed, CONFIG, now=NOW)


def test_missing_empty_or_truncated_signatures_are_refused() -> None:
    request = inbound()
    signature = request.headers["x-twilio-signature"]
    unsigned = {name: value for name, value in request.headers.items() if name != "x-twilio-signature"}

    with pytest.raises(Refused, match="missing"):
        ADAPTER.verify(WebhookRequest("POST", URL, unsigned, request.body, received_at=NOW), CONFIG, now=NOW)
    for bad in ["", "   ", signature[:-2], signature[:-1], "sha1=" + signature, signature.lower(), "é" + signature]:
        with pytest.raises(Refused) as refused:
            ADAPTER.verify(resigned(request, **{"x-twilio-signature": bad}), CONFIG, now=NOW)
        assert refused.value.status == 403


def test_repeated_parameters_are_signed_in_the_order_they_arrive() -> None:
    form = sms(Body="hi") + "&MediaUrl=https%3A%2F%2Fa.example%2F2&MediaUrl=https%3A%2F%2Fa.example%2F1"

    ADAPTER.verify(inbound(form), CONFIG, now=NOW)


def test_a_body_that_is_not_utf8_is_refused_by_verify_and_unreadable_to_parse() -> None:
    body = b"MessageSid=SM1&Body=\xff\xfe"
    headers = {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": "AAAA"}
    request = WebhookRequest("POST", URL, headers, body, received_at=NOW)

    with pytest.raises(Refused):
        ADAPTER.verify(request, CONFIG, now=NOW)
    with pytest.raises(BadPayload):
        ADAPTER.parse(request)


def test_a_json_body_webhook_signs_the_url_with_the_body_hash() -> None:
    body = json.dumps({"MessageSid": MESSAGE_SID, "From": "+14155550123", "Body": "8"}).encode()
    url, headers = twilio_json_request(AUTH_TOKEN, URL, body)
    request = WebhookRequest("POST", url, headers, body, received_at=NOW)

    ADAPTER.verify(request, CONFIG, now=NOW)
    (record,) = ADAPTER.parse(request).records
    assert isinstance(record, FeedbackRecord)
    assert record.scores == Scores(nps=8)

    tampered = WebhookRequest("POST", url, headers, body.replace(b'"8"', b'"9"'), received_at=NOW)
    with pytest.raises(Refused, match="bodySHA256"):
        ADAPTER.verify(tampered, CONFIG, now=NOW)


def test_a_get_webhook_signs_the_url_alone() -> None:
    url = URL + "?" + sms(Body="great service")
    headers = {"x-twilio-signature": twilio_signature(AUTH_TOKEN, url)}
    request = WebhookRequest("GET", url, headers, b"", received_at=NOW)

    ADAPTER.verify(request, CONFIG, now=NOW)
    (record,) = ADAPTER.parse(request).records
    assert isinstance(record, FeedbackRecord)
    assert record.text == "great service"


# --- parse --------------------------------------------------------------------------------------------------------


def test_an_inbound_sms_becomes_sms_feedback_from_the_sender_phone() -> None:
    delivery = ADAPTER.parse(inbound())

    assert delivery.delivery_id == MESSAGE_SID
    (record,) = delivery.records
    assert isinstance(record, FeedbackRecord)
    assert record.channel == "sms"
    assert record.source == "twilio"
    assert record.external_id == f"twilio:{MESSAGE_SID}"
    assert record.text == "Thanks - issue fixed, but the wait was long. 3/5"
    assert record.scores == Scores()
    assert record.customer is not None
    assert record.customer.keys == (("phone", "+14155550123"),)
    assert record.customer.phone == "+14155550123"
    assert record.occurred_at == NOW
    assert record.metadata == {
        "to": "+14155550100",
        "from_country": "US",
        "num_media": "0",
        "num_segments": "1",
        "messaging_service_sid": "MG0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "account_sid": "AC00112233445566778899aabbccddeeff",
    }


@pytest.mark.parametrize(
    ("body", "nps"), [("0", 0), ("9", 9), (" 10\n", 10), ("11", None), ("9/10", None), ("-1", None)]
)
def test_a_body_that_is_only_a_number_0_to_10_is_an_nps_answer_and_keeps_its_text(body: str, nps: int | None) -> None:
    (record,) = ADAPTER.parse(inbound(sms(Body=body))).records

    assert isinstance(record, FeedbackRecord)
    assert record.scores == Scores(nps=nps)
    assert record.text == body.strip()


def test_the_idempotency_token_is_the_dedupe_id_when_present_and_replays_keep_it() -> None:
    request = resigned(inbound(), **{"i-twilio-idempotency-token": "a2b4c6d8-retry-token"})

    assert ADAPTER.parse(request).delivery_id == "a2b4c6d8-retry-token"
    assert ADAPTER.parse(inbound()).delivery_id == ADAPTER.parse(inbound()).delivery_id == MESSAGE_SID


def test_legacy_sms_sid_stands_in_for_a_missing_message_sid() -> None:
    form = urlencode({"SmsSid": "SM0000000000000000000000000000000a", "From": "+14155550123", "Body": "ok"})

    (record,) = ADAPTER.parse(inbound(form)).records

    assert isinstance(record, FeedbackRecord)
    assert record.external_id == "twilio:SM0000000000000000000000000000000a"


def test_a_whatsapp_message_is_chat_feedback_keyed_by_the_bare_number() -> None:
    (record,) = ADAPTER.parse(inbound(sms(From="whatsapp:+14155550123", Body="hello"))).records

    assert isinstance(record, FeedbackRecord)
    assert record.channel == "chat"
    assert record.customer is not None
    assert record.customer.keys == (("phone", "+14155550123"),)


def test_a_message_without_text_or_media_is_acknowledged_with_a_note() -> None:
    delivery = ADAPTER.parse(inbound(sms(Body="  ")))

    assert delivery.records == []
    assert delivery.delivery_id == MESSAGE_SID
    assert delivery.note


@pytest.mark.parametrize(
    ("form", "reason"), [(urlencode({"From": "+14155550123", "Body": "x"}), "MessageSid"), (sms(From=""), "From")]
)
def test_a_message_without_its_sid_or_sender_is_unprocessable(form: str, reason: str) -> None:
    with pytest.raises(BadPayload, match=reason) as bad:
        ADAPTER.parse(inbound(form))
    assert bad.value.status == 422


@pytest.mark.parametrize("body", [b"", b"null", b"[1]", b"[" * 100_000])
def test_unreadable_json_bodies_are_bad_payloads(body: bytes) -> None:
    request = WebhookRequest("POST", URL, {"content-type": "application/json"}, body, received_at=NOW)

    with pytest.raises(BadPayload):
        ADAPTER.parse(request)


def test_the_reply_is_empty_twiml_and_refusals_are_4xx_plain_text() -> None:
    reply = ADAPTER.reply(ADAPTER.parse(inbound()))
    refusal = ADAPTER.refusal(Refused("X-Twilio-Signature does not match", status=403))

    assert reply.status == 200
    assert reply.body == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert reply.content_type == "text/xml"
    assert (refusal.status, refusal.body) == (403, b"X-Twilio-Signature does not match")
    assert ADAPTER.refusal(BadPayload("MessageSid is missing", status=422)).status == 422
    assert ADAPTER.probe(inbound()) is None
