"""Intercom: `sha1=` HMAC of the body, customer messages become chat feedback, ratings become CSAT."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxm_ingest.domain.records import FeedbackRecord, InteractionRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.intercom import ADAPTER
from tests.ingest.signers import intercom_headers, intercom_signature

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
SECRET = "ic-client-secret-4f1e9a"
CONFIG = ADAPTER.prepare_config({"client_secret": SECRET})
URL = "https://cxm.example.com/webhooks/intercom"
NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
RATING = (FIXTURES / "intercom_conversation_rating.json").read_bytes()
USER_CREATED = (FIXTURES / "intercom_conversation_user_created.json").read_bytes()


def signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    return WebhookRequest("POST", URL, intercom_headers(secret, body), body, received_at=NOW)


def notification(topic: str, item: dict[str, Any] | None = None, notification_id: str = "notif_1") -> bytes:
    payload = json.loads(USER_CREATED)
    payload.update({"topic": topic, "id": notification_id})
    if item is not None:
        payload["data"]["item"] = item
    return json.dumps(payload).encode()


def test_a_new_conversation_is_an_interaction_and_its_first_message_chat_feedback() -> None:
    request = signed(USER_CREATED)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    assert delivery.delivery_id == "notif_8e0c4a77-1b9d-4c52-a3f6-0d7e2c9b4a11"
    interaction, feedback = delivery.records
    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "conversation_started"
    assert interaction.channel == "chat"
    assert interaction.external_id == "intercom:conversation:198877005678"
    assert interaction.occurred_at == datetime(2025, 3, 14, 11, 0, 11, tzinfo=UTC)
    assert interaction.customer.keys == (
        ("intercom:contact", "65f1a2b3c4d5e6f7a8b9c0d9"),
        ("email", "lee.okafor@example.net"),
    )
    assert interaction.customer.name == "Lee Okafor"
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.channel == "chat"
    assert feedback.text == "Hi, can I change my plan mid-cycle?"
    assert feedback.external_id == "intercom:message:2255007788"
    assert feedback.customer == interaction.customer
    assert feedback.metadata["url"] == "https://app.example.com/pricing"


def test_a_customer_reply_is_a_received_message_with_its_text() -> None:
    conversation = json.loads(USER_CREATED)["data"]["item"]
    conversation["conversation_parts"] = {
        "type": "conversation_part.list",
        "conversation_parts": [
            {
                "type": "conversation_part",
                "id": "9001",
                "part_type": "comment",
                "body": "<p>Thanks &amp; one more thing:</p><p>can I keep my <b>discount</b>?</p>",
                "created_at": 1741950100,
                "author": {"type": "user", "id": "65f1a2b3c4d5e6f7a8b9c0d9", "email": "lee.okafor@example.net"},
            },
            {"type": "conversation_part", "id": "9002", "body": "<p>Yes.</p>", "author": {"type": "admin", "id": "7"}},
        ],
    }

    interaction, feedback = ADAPTER.parse(signed(notification("conversation.user.replied", conversation))).records

    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "message_received"
    assert interaction.external_id == "intercom:conversation_part:9001"
    assert interaction.occurred_at == datetime(2025, 3, 14, 11, 1, 40, tzinfo=UTC)
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.text == "Thanks & one more thing:\ncan I keep my discount?"
    assert feedback.external_id == "intercom:message:9001"


def test_a_conversation_rating_is_csat_feedback_with_the_remark() -> None:
    request = signed(RATING)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    (feedback,) = delivery.records
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.scores == Scores(csat=2)
    assert feedback.text == "Fixed in the end but took a while."
    assert feedback.channel == "chat"
    assert feedback.external_id == "intercom:conversation_rating:198877001234"
    assert feedback.occurred_at == datetime(2025, 3, 14, 9, 27, tzinfo=UTC)
    assert feedback.customer is not None
    assert feedback.customer.keys == (
        ("intercom:contact", "65f1a2b3c4d5e6f7a8b9c0d1"),
        ("crm", "cust_48813"),
        ("email", "dana.reyes@example.org"),
    )
    assert feedback.metadata == {"conversation_id": "198877001234", "rating": 2, "teammate_id": "7004411"}
    assert delivery.delivery_id == "notif_3b2f9c1e-7a44-4d2b-9f0e-5c8a1d6e2b70"


@pytest.mark.parametrize("rating", [0, 6, "five", None, 2.5])
def test_a_rating_outside_one_to_five_keeps_the_remark_without_a_score(rating: Any) -> None:
    conversation = json.loads(RATING)["data"]["item"]
    conversation["conversation_rating"]["rating"] = rating

    (feedback,) = ADAPTER.parse(signed(notification("conversation.rating.added", conversation))).records

    assert isinstance(feedback, FeedbackRecord)
    assert feedback.scores == Scores()
    assert feedback.text == "Fixed in the end but took a while."


def test_ping_is_acknowledged_without_records() -> None:
    body = b'{"type":"notification_event","topic":"ping","id":"notif_ping","data":{"item":{"type":"ping"}}}'

    delivery = ADAPTER.parse(signed(body))

    assert delivery == Delivery("notif_ping", [], note="ping")
    assert ADAPTER.reply(delivery) == Reply(200)


@pytest.mark.parametrize("topic", ["conversation.admin.replied", "contact.user.created", "ticket.created"])
def test_other_topics_are_acknowledged_with_a_note(topic: str) -> None:
    delivery = ADAPTER.parse(signed(notification(topic)))

    assert delivery == Delivery("notif_1", [], note=f"topic {topic} not used")


def test_dedupe_ids_are_the_notification_ids() -> None:
    first = ADAPTER.parse(signed(notification("conversation.user.created", notification_id="notif_a")))
    again = ADAPTER.parse(signed(notification("conversation.user.created", notification_id="notif_a")))
    other = ADAPTER.parse(signed(notification("conversation.user.created", notification_id="notif_b")))

    assert first.delivery_id == again.delivery_id == "notif_a"
    assert other.delivery_id == "notif_b"


def with_signature(value: str | None, body: bytes = USER_CREATED) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if value is not None:
        headers["x-hub-signature"] = value
    return WebhookRequest("POST", URL, headers, body, received_at=NOW)


def forgeries() -> dict[str, WebhookRequest]:
    signature = intercom_signature(SECRET, USER_CREATED)
    reserialised = json.dumps(json.loads(USER_CREATED)).encode()
    return {
        "wrong secret": signed(USER_CREATED, secret="another-secret"),
        "tampered body": with_signature(signature, USER_CREATED.replace(b"mid-cycle", b"for free")),
        "re-serialised JSON": with_signature(signature, reserialised),
        "missing signature": with_signature(None),
        "empty signature": with_signature(""),
        "prefix only": with_signature("sha1="),
        "truncated signature": with_signature(signature[:-1]),
        "no scheme prefix": with_signature(signature.removeprefix("sha1=")),
        "sha256 scheme": with_signature("sha256=" + signature.removeprefix("sha1=")),
    }


@pytest.mark.parametrize("case", sorted(forgeries()))
def test_forged_requests_are_refused(case: str) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(forgeries()[case], CONFIG, now=NOW)


def test_an_upper_case_hex_signature_is_accepted() -> None:
    signature = intercom_signature(SECRET, USER_CREATED)

    ADAPTER.verify(with_signature("sha1=" + signature.removeprefix("sha1=").upper()), CONFIG, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"7",
        b"not json",
        b"\xc3\x28",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id": "notif_x"}',
        b'{"topic": ["ping"]}',
        b'{"topic": "conversation.user.created", "data": null}',
        b'{"topic": "conversation.user.created", "data": {"item": {"source": {"body": 5, "author": []}}}}',
        b'{"topic": "conversation.user.replied", "data": {"item": {"conversation_parts": {"conversation_parts": 1}}}}',
        b'{"topic": "conversation.rating.added", "data": {"item": {"conversation_rating": "great"}}}',
        b'{"topic": "conversation.rating.added", "data": {"item": {"rating": 5, "remark": {"a": 1}}}}',
        b'{"topic": "conversation.user.created", "data": {"item": {"contacts": {"contacts": [null, 3]}}}}',
    ],
)
def test_any_body_is_either_parsed_or_a_bad_payload(body: bytes) -> None:
    try:
        delivery = ADAPTER.parse(WebhookRequest("POST", URL, {}, body, received_at=NOW))
    except BadPayload as error:
        assert ADAPTER.refusal(error) == Reply(400)
    else:
        assert isinstance(delivery.records, list)


@pytest.mark.parametrize(
    "body", [b"", b"null", b"not json", b'{"id": "notif_x"}', b'{"topic": "conversation.user.created"}']
)
def test_unreadable_notifications_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(signed(body))


def test_the_client_secret_is_required_and_nothing_else_is_accepted() -> None:
    assert ADAPTER.secret_fields == ("client_secret",)
    for config in ({}, {"client_secret": "  "}, {"client_secret": 5}, {"client_secret": "s", "hub_secret": "h"}):
        with pytest.raises(ConfigError):
            ADAPTER.prepare_config(config)


def test_replies() -> None:
    assert ADAPTER.refusal(Refused("bad signature")) == Reply(401)
    assert ADAPTER.refusal(BadPayload("not JSON")) == Reply(400)
    assert ADAPTER.probe(WebhookRequest("HEAD", URL, {}, b"", NOW)) is None
