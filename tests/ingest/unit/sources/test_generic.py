"""Generic: Standard Webhooks signatures with a ±300 s window, and CXM's own record shapes validated strictly."""

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxm_ingest.domain.records import CustomerRecord, FeedbackRecord, InteractionRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest
from cxm_ingest.sources.generic import ADAPTER
from tests.ingest.signers import standard_webhooks_headers, standard_webhooks_signature

SECRET = "whsec_" + base64.b64encode(b"generic-test-secret-32-bytes-xx!").decode()
CONFIG = ADAPTER.prepare_config({"secret": SECRET})
URL = "https://cxm.example.com/v1/webhooks/generic/0190c0de-0000-7000-8000-000000000001"
NOW = datetime(2025, 3, 14, 9, 50, 0, tzinfo=UTC)
MESSAGE_ID = "msg_2dYx0ExAmPlE"
FEEDBACK: dict[str, Any] = {
    "type": "feedback",
    "data": {
        "channel": "in_app",
        "source": "mobile-app",
        "external_id": "fb-1001",
        "customer": {"id": "cust_48813", "email": " Dana.Reyes@Example.org ", "name": "Dana Reyes"},
        "text": "Checkout keeps timing out.",
        "scores": {"nps": 4, "csat": 2, "ces": 6},
        "touchpoint": "checkout",
        "occurred_at": "2025-03-14T10:49:00+01:00",
        "metadata": {"app_version": "5.2.1"},
    },
}
INTERACTION: dict[str, Any] = {
    "type": "interaction",
    "data": {
        "customer_id": "cust_48813",
        "name": "checkout_started",
        "channel": "web",
        "occurred_at": "2025-03-14T09:48:00Z",
        "properties": {"cart_value": 129.9},
    },
}
CUSTOMER: dict[str, Any] = {
    "type": "customer",
    "data": {"customer_id": "cust_48813", "email": "dana.reyes@example.org", "attributes": {"plan": "Business"}},
}


def signed(
    payload: Any, *, at: datetime = NOW, message_id: str = MESSAGE_ID, secret: str = SECRET, raw: bytes | None = None
) -> WebhookRequest:
    body = raw if raw is not None else json.dumps(payload).encode()
    headers = standard_webhooks_headers(secret, message_id, str(int(at.timestamp())), body)
    return WebhookRequest("POST", URL, headers, body, received_at=NOW)


def with_headers(request: WebhookRequest, **changes: str | None) -> WebhookRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        if value is None:
            headers.pop(name.replace("_", "-"), None)
        else:
            headers[name.replace("_", "-")] = value
    return WebhookRequest(request.method, request.url, headers, request.body, received_at=request.received_at)


def feedback_with(**data: Any) -> dict[str, Any]:
    return {"type": "feedback", "data": {**FEEDBACK["data"], **data}}


# --- config -------------------------------------------------------------------------------------------------------


def test_a_secret_is_generated_when_absent_and_is_a_whsec_secret_of_32_bytes() -> None:
    config = ADAPTER.prepare_config({})

    assert config["secret"].startswith("whsec_")
    assert len(base64.b64decode(config["secret"].removeprefix("whsec_"))) == 32
    assert ADAPTER.prepare_config({})["secret"] != config["secret"]
    assert ADAPTER.secret_fields == ("secret",)
    assert ADAPTER.uses_path_token is False


def test_a_given_secret_is_kept() -> None:
    assert CONFIG == {"secret": SECRET}


@pytest.mark.parametrize(
    "config",
    [
        {"secret": "not-a-whsec-secret"},
        {"secret": "whsec_%%%not-base64%%%"},
        {"secret": "whsec_" + base64.b64encode(b"too short").decode()},
        {"secret": 42},
        {"secret": SECRET, "signing_secret": "extra"},
    ],
)
def test_malformed_secrets_and_unknown_fields_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ADAPTER.prepare_config(config)


# --- verify -------------------------------------------------------------------------------------------------------


def test_a_correctly_signed_request_is_verified() -> None:
    ADAPTER.verify(signed(FEEDBACK), CONFIG, now=NOW)


def test_any_matching_entry_of_a_space_separated_signature_list_passes() -> None:
    request = signed(FEEDBACK)
    real = request.headers["webhook-signature"]
    listed = with_headers(request, webhook_signature=f"v1,bm90LXRoZS1yaWdodC1vbmU= v1a,ignored {real}")

    ADAPTER.verify(listed, CONFIG, now=NOW)


@pytest.mark.parametrize("skew", [299, 300, -299, -300])
def test_timestamps_within_300_seconds_either_way_are_accepted(skew: int) -> None:
    ADAPTER.verify(signed(FEEDBACK, at=NOW + timedelta(seconds=skew)), CONFIG, now=NOW)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_timestamps_beyond_300_seconds_either_way_are_refused(skew: int) -> None:
    with pytest.raises(Refused, match="tolerance"):
        ADAPTER.verify(signed(FEEDBACK, at=NOW + timedelta(seconds=skew)), CONFIG, now=NOW)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    other = "whsec_" + base64.b64encode(b"another-secret-of-thirty-two-byt").decode()

    with pytest.raises(Refused) as refused:
        ADAPTER.verify(signed(FEEDBACK, secret=other), CONFIG, now=NOW)
    assert refused.value.status == 401


def test_a_tampered_body_is_refused() -> None:
    request = signed(FEEDBACK)
    tampered = WebhookRequest("POST", URL, request.headers, request.body.replace(b"4", b"9"), received_at=NOW)

    with pytest.raises(Refused):
        ADAPTER.verify(tampered, CONFIG, now=NOW)


def test_a_changed_id_or_timestamp_breaks_the_signature() -> None:
    request = signed(FEEDBACK)

    with pytest.raises(Refused):
        ADAPTER.verify(with_headers(request, webhook_id="msg_other"), CONFIG, now=NOW)
    with pytest.raises(Refused):
        ADAPTER.verify(with_headers(request, webhook_timestamp=str(int(NOW.timestamp()) - 1)), CONFIG, now=NOW)


@pytest.mark.parametrize("header", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(header: str) -> None:
    request = signed(FEEDBACK)
    headers = {name: value for name, value in request.headers.items() if name != header}

    with pytest.raises(Refused, match=header):
        ADAPTER.verify(WebhookRequest("POST", URL, headers, request.body, received_at=NOW), CONFIG, now=NOW)


def test_empty_truncated_and_wrongly_versioned_signatures_are_refused() -> None:
    request = signed(FEEDBACK)
    real = request.headers["webhook-signature"]
    signature = real.partition(",")[2]

    for bad in ["", " ", real[:-4], signature, f"v2,{signature}", f"v1;{signature}", "v1,", f"V1,{signature}"]:
        with pytest.raises(Refused):
            ADAPTER.verify(with_headers(request, webhook_signature=bad), CONFIG, now=NOW)


@pytest.mark.parametrize("timestamp", ["", "abc", "1741945800.5", "-1741945800", "1741945800000000000000"])
def test_a_timestamp_that_is_not_whole_epoch_seconds_is_refused(timestamp: str) -> None:
    request = signed(FEEDBACK)
    body = request.body
    headers = {
        **request.headers,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhooks_signature(SECRET, MESSAGE_ID, timestamp, body),
    }

    with pytest.raises(Refused):
        ADAPTER.verify(WebhookRequest("POST", URL, headers, body, received_at=NOW), CONFIG, now=NOW)


def test_a_replayed_request_keeps_its_webhook_id_as_the_dedupe_id() -> None:
    first = ADAPTER.parse(signed(FEEDBACK))
    again = ADAPTER.parse(signed(FEEDBACK, at=NOW + timedelta(seconds=60)))

    assert first.delivery_id == again.delivery_id == MESSAGE_ID


# --- parse --------------------------------------------------------------------------------------------------------


def test_a_feedback_event_becomes_a_feedback_record_like_the_public_api() -> None:
    delivery = ADAPTER.parse(signed(FEEDBACK))

    (record,) = delivery.records
    assert isinstance(record, FeedbackRecord)
    assert record.channel == "in_app"
    assert record.source == "mobile-app"
    assert record.external_id == "fb-1001"
    assert record.customer is not None
    assert record.customer.keys == (("crm", "cust_48813"), ("email", "dana.reyes@example.org"))
    assert record.customer.email == "dana.reyes@example.org"
    assert record.customer.name == "Dana Reyes"
    assert record.text == "Checkout keeps timing out."
    assert record.scores == Scores(nps=4, csat=2, ces=6)
    assert record.touchpoint == "checkout"
    assert record.occurred_at == datetime(2025, 3, 14, 9, 49, tzinfo=UTC)
    assert record.metadata == {"app_version": "5.2.1"}


def test_feedback_without_a_source_is_from_generic() -> None:
    data = {"channel": "email", "customer": {"id": "c-1"}, "scores": {"csat": 5}}

    (record,) = ADAPTER.parse(signed({"type": "feedback", "data": data})).records

    assert isinstance(record, FeedbackRecord)
    assert record.source == "generic"
    assert record.text is None
    assert record.occurred_at is None


def test_interaction_and_customer_events_in_one_array_become_records_in_order() -> None:
    delivery = ADAPTER.parse(signed([INTERACTION, CUSTOMER, FEEDBACK]))

    interaction, customer, feedback = delivery.records
    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "checkout_started"
    assert interaction.source == "generic"
    assert interaction.channel == "web"
    assert interaction.customer.keys == (("crm", "cust_48813"),)
    assert interaction.occurred_at == datetime(2025, 3, 14, 9, 48, tzinfo=UTC)
    assert interaction.properties == {"cart_value": 129.9}
    assert isinstance(customer, CustomerRecord)
    assert customer.customer.keys == (("crm", "cust_48813"), ("email", "dana.reyes@example.org"))
    assert customer.attributes == {"plan": "Business"}
    assert isinstance(feedback, FeedbackRecord)


def test_an_empty_array_is_acknowledged_with_a_note() -> None:
    delivery = ADAPTER.parse(signed([]))

    assert delivery.records == []
    assert delivery.note


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"type": "complaint", "data": {}}, "$.type"),
        ({"type": "feedback"}, "$.data"),
        ({"type": "feedback", "data": {}, "extra": 1}, "$: unknown field(s): extra"),
        (feedback_with(channel="carrier-pigeon"), "$.data.channel"),
        (feedback_with(channel=None), "$.data.channel"),
        (feedback_with(customer=None), "$.data.customer"),
        (feedback_with(customer={"email": "a@example.org"}), "$.data.customer.id"),
        (feedback_with(customer={"id": "   "}), "$.data.customer.id"),
        (feedback_with(customer={"id": 42}), "$.data.customer.id"),
        (feedback_with(customer={"id": "c", "email": "not-an-email"}), "$.data.customer.email"),
        (feedback_with(customer={"id": "c", "segment": "smb"}), "$.data.customer: unknown"),
        (feedback_with(scores={"nps": 11}), "$.data.scores.nps"),
        (feedback_with(scores={"nps": -1}), "$.data.scores.nps"),
        (feedback_with(scores={"nps": 7.5}), "$.data.scores.nps"),
        (feedback_with(scores={"nps": "9"}), "$.data.scores.nps"),
        (feedback_with(scores={"nps": True}), "$.data.scores.nps"),
        (feedback_with(scores={"csat": 0}), "$.data.scores.csat"),
        (feedback_with(scores={"csat": 6}), "$.data.scores.csat"),
        (feedback_with(scores={"ces": 8}), "$.data.scores.ces"),
        (feedback_with(scores={"ces": 0}), "$.data.scores.ces"),
        (feedback_with(scores={"nps": 10**400}), "$.data.scores.nps"),
        (feedback_with(scores={"stars": 4}), "$.data.scores: unknown"),
        (feedback_with(scores=[9]), "$.data.scores"),
        (feedback_with(text=None, scores=None), "feedback needs text or at least one score"),
        (feedback_with(text=5), "$.data.text"),
        (feedback_with(occurred_at="2025-03-14T09:49:00"), "$.data.occurred_at: must include a timezone"),
        (feedback_with(occurred_at="yesterday"), "$.data.occurred_at"),
        (feedback_with(occurred_at=1741945740), "$.data.occurred_at"),
        (feedback_with(metadata=["a"]), "$.data.metadata"),
        ({"type": "interaction", "data": {**INTERACTION["data"], "occurred_at": None}}, "$.data.occurred_at"),
        ({"type": "interaction", "data": {**INTERACTION["data"], "name": ""}}, "$.data.name"),
        ({"type": "interaction", "data": {**INTERACTION["data"], "customer_id": None}}, "$.data.customer_id"),
        ({"type": "interaction", "data": {**INTERACTION["data"], "properties": "x"}}, "$.data.properties"),
        ({"type": "customer", "data": {"customer_id": "c", "attributes": [1]}}, "$.data.attributes"),
        ([INTERACTION, {"type": "feedback", "data": {"channel": "web"}}], "$[1].data.customer"),
    ],
)
def test_invalid_events_are_unprocessable_with_the_path_of_the_problem(payload: Any, path: str) -> None:
    with pytest.raises(BadPayload) as bad:
        ADAPTER.parse(signed(payload))

    assert bad.value.status == 422
    assert path in bad.value.reason


def test_non_finite_numbers_in_free_form_objects_are_refused() -> None:
    raw = json.dumps(feedback_with(metadata={"big": "x"})).replace('"x"', "1e999").encode()

    with pytest.raises(BadPayload) as bad:
        ADAPTER.parse(signed(None, raw=raw))
    assert bad.value.status == 422
    assert "$.data.metadata" in bad.value.reason


def test_more_than_a_thousand_events_are_refused() -> None:
    with pytest.raises(BadPayload, match="1000"):
        ADAPTER.parse(signed([CUSTOMER] * 1001))


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"42", b'"feedback"', b"\xff\xfe{}", b"{", b"[" * 100_000, b'{"type": NaN}', b"1" * 5000],
)
def test_unreadable_bodies_are_bad_payloads_never_crashes(body: bytes) -> None:
    request = signed(None, raw=body)

    ADAPTER.verify(request, CONFIG, now=NOW)
    with pytest.raises(BadPayload):
        ADAPTER.parse(request)


def test_replies_are_an_empty_200_and_refusals_are_problem_details() -> None:
    reply = ADAPTER.reply(ADAPTER.parse(signed(FEEDBACK)))
    refusal = ADAPTER.refusal(BadPayload("$.data.channel: must be one of …", status=422))

    assert (reply.status, reply.body) == (200, b"")
    assert refusal.status == 422
    assert refusal.content_type == "application/problem+json"
    assert json.loads(refusal.body)["detail"] == "$.data.channel: must be one of …"
    assert ADAPTER.refusal(Refused("no webhook-signature entry matches")).status == 401
    assert ADAPTER.probe(signed(FEEDBACK)) is None
