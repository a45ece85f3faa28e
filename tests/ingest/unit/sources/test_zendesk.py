"""Zendesk: signed timestamp + body, ticket events become interactions, the satisfaction trigger becomes CSAT."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cxm_ingest.domain.records import FeedbackRecord, InteractionRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, Reply, WebhookRequest
from cxm_ingest.sources.zendesk import ADAPTER
from tests.ingest.signers import zendesk_headers, zendesk_signature

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
SECRET = "zd-signing-secret-0123456789abcdef"
CONFIG = ADAPTER.prepare_config({"signing_secret": SECRET})
URL = "https://cxm.example.com/webhooks/zendesk"
NOW = datetime(2025, 3, 14, 9, 21, 10, tzinfo=UTC)
TIMESTAMP = "2025-03-14T09:21:10Z"
TICKET_CREATED = (FIXTURES / "zendesk_ticket_created.json").read_bytes()
TRIGGER_BODY = (
    b'{"source":"zendesk_trigger","event":"satisfaction_rating_changed","ticket_id":"48213",'
    b'"ticket_updated_at":"2025-03-15T10:02:11Z","requester_email":" Dana.Reyes@Example.org ",'
    b'"assignee_email":"agent.kim@example.com","satisfaction_rating":"Bad",'
    b'"satisfaction_comment":"Took three days to get a first answer."}'
)


def signed(body: bytes, timestamp: str = TIMESTAMP, secret: str = SECRET) -> WebhookRequest:
    headers = zendesk_headers(secret, body, timestamp)
    return WebhookRequest("POST", URL, headers, body, received_at=NOW)


def event(event_type: str, event: dict[str, object] | None = None, event_id: str = "evt-1") -> bytes:
    payload = json.loads(TICKET_CREATED)
    payload.update({"type": f"zen:event-type:{event_type}", "id": event_id, "event": event or {}})
    return json.dumps(payload).encode()


def test_a_signed_ticket_created_event_is_verified_and_becomes_an_opened_ticket_and_its_description() -> None:
    request = signed(TICKET_CREATED)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    assert delivery.delivery_id == "6f1d2b8e-4c3a-4f0b-9e1d-2a7c5b9e3f10"
    interaction, feedback = delivery.records
    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "ticket_opened"
    assert interaction.channel == "ticket"
    assert interaction.customer.keys == (("zendesk:user", "9120033451201"),)
    assert interaction.occurred_at == datetime(2025, 3, 14, 9, 21, 7, 418532, tzinfo=UTC)
    assert interaction.properties["ticket_id"] == "48213"
    assert interaction.properties["priority"] == "high"
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.channel == "ticket"
    assert feedback.external_id == "zendesk:ticket:48213"
    assert feedback.text == "The export button on the reports page does nothing since this morning."
    assert feedback.customer == interaction.customer
    assert feedback.occurred_at == datetime(2025, 3, 14, 9, 21, 7, tzinfo=UTC)
    assert feedback.metadata["subject"] == "Report export broken"


@pytest.mark.parametrize(("status", "name"), [("SOLVED", "ticket_solved"), ("closed", "ticket_solved")])
def test_a_ticket_moving_to_solved_or_closed_is_a_solved_ticket(status: str, name: str) -> None:
    delivery = ADAPTER.parse(signed(event("ticket.status_changed", {"current": status, "previous": "OPEN"})))

    (interaction,) = delivery.records
    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == name
    assert interaction.properties["status"] == status.lower()
    assert interaction.properties["previous_status"] == "open"


def test_other_status_changes_and_comments_are_interactions_without_feedback() -> None:
    pending = ADAPTER.parse(signed(event("ticket.status_changed", {"current": "PENDING", "previous": "OPEN"})))
    comment = ADAPTER.parse(signed(event("ticket.comment_added", {"comment": {"body": "hi"}})))

    assert [record.name for record in pending.records] == ["ticket_status_changed"]
    assert [record.name for record in comment.records] == ["ticket_comment_added"]


@pytest.mark.parametrize("event_type", ["ticket.tags_changed", "user.created", "organization.created"])
def test_events_we_do_not_use_are_acknowledged_with_a_note(event_type: str) -> None:
    delivery = ADAPTER.parse(signed(event(event_type)))

    assert delivery.records == []
    assert delivery.note == f"event type {event_type} not used"
    assert delivery.delivery_id == "evt-1"


def test_the_satisfaction_trigger_becomes_csat_feedback_from_the_requester() -> None:
    request = signed(TRIGGER_BODY)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    (feedback,) = delivery.records
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.scores == Scores(csat=1)
    assert feedback.metadata["rating"] == "Bad"
    assert feedback.text == "Took three days to get a first answer."
    assert feedback.channel == "ticket"
    assert feedback.external_id == "zendesk:satisfaction:48213"
    assert feedback.customer is not None
    assert feedback.customer.keys == (("email", "dana.reyes@example.org"),)
    assert feedback.customer.email == "dana.reyes@example.org"
    assert feedback.occurred_at == datetime(2025, 3, 15, 10, 2, 11, tzinfo=UTC)
    assert delivery.delivery_id == "trigger:48213:2025-03-15T10:02:11Z:satisfaction_rating_changed"


def test_the_recommended_template_example_maps_good_to_five_and_keeps_the_requester_id() -> None:
    payload = json.loads((FIXTURES / "zendesk_satisfaction_rating.json").read_bytes())
    payload.update({"satisfaction_rating": "good", "requester_id": 7881})

    (feedback,) = ADAPTER.parse(signed(json.dumps(payload).encode())).records

    assert isinstance(feedback, FeedbackRecord)
    assert feedback.scores.csat == 5
    assert feedback.customer is not None
    assert feedback.customer.keys == (("zendesk:user", "7881"), ("email", "dana.reyes@example.org"))


def test_a_trigger_comment_with_raw_quotes_and_newlines_is_read_leniently_and_the_raw_body_kept() -> None:
    body = (
        b'{"source":"zendesk_trigger","event":"satisfaction_rating_changed","ticket_id":"48213",'
        b'"ticket_updated_at":"2025-03-15T10:02:11Z","requester_email":"dana.reyes@example.org",'
        b'"satisfaction_rating":"Good","satisfaction_comment":"They said "fixed", and\nit was."}'
    )
    request = signed(body)
    ADAPTER.verify(request, CONFIG, now=NOW)

    (feedback,) = ADAPTER.parse(request).records

    assert isinstance(feedback, FeedbackRecord)
    assert feedback.text == 'They said "fixed", and\nit was.'
    assert feedback.scores.csat == 5
    assert feedback.metadata["raw_body"] == body.decode()


def test_an_unrated_satisfaction_change_stores_nothing() -> None:
    body = TRIGGER_BODY.replace(b'"Bad"', b'"offered"').replace(b"Took three days to get a first answer.", b"")

    delivery = ADAPTER.parse(signed(body))

    assert delivery.records == []
    assert delivery.note is not None


def test_dedupe_ids_are_stable_for_a_retry_and_differ_between_events() -> None:
    first = ADAPTER.parse(signed(event("ticket.created", event_id="evt-1")))
    retry = ADAPTER.parse(signed(event("ticket.created", event_id="evt-1"), timestamp="2025-03-14T09:22:00Z"))
    other = ADAPTER.parse(signed(event("ticket.created", event_id="evt-2")))
    later_rating = ADAPTER.parse(signed(TRIGGER_BODY.replace(b"10:02:11Z", b"11:30:00Z")))

    assert first.delivery_id == retry.delivery_id == "evt-1"
    assert other.delivery_id == "evt-2"
    assert later_rating.delivery_id != ADAPTER.parse(signed(TRIGGER_BODY)).delivery_id


def test_a_trigger_body_without_ticket_keys_falls_back_to_the_invocation_id() -> None:
    body = b'{"source":"zendesk_trigger","satisfaction_rating":"good"}'
    headers = {**zendesk_headers(SECRET, body, TIMESTAMP), "x-zendesk-webhook-invocation-id": "inv-42"}

    delivery = ADAPTER.parse(WebhookRequest("POST", URL, headers, body, received_at=NOW))

    assert delivery.delivery_id == "invocation:inv-42"
    assert delivery.records[0].metadata["invocation_id"] == "inv-42"


def with_headers(request: WebhookRequest, **changes: str | None) -> WebhookRequest:
    headers = dict(request.headers)
    for name, value in changes.items():
        header = name.replace("_", "-")
        if value is None:
            headers.pop(header, None)
        else:
            headers[header] = value
    return WebhookRequest(request.method, request.url, headers, request.body, request.received_at)


def forgeries() -> dict[str, WebhookRequest]:
    good = signed(TICKET_CREATED)
    signature = good.headers["x-zendesk-webhook-signature"]
    reserialised = json.dumps(json.loads(TICKET_CREATED)).encode()
    return {
        "wrong secret": signed(TICKET_CREATED, secret="another-secret"),
        "tampered body": WebhookRequest("POST", URL, good.headers, TICKET_CREATED.replace(b"48213", b"48214"), NOW),
        "re-serialised JSON": WebhookRequest("POST", URL, good.headers, reserialised, NOW),
        "missing signature": with_headers(good, x_zendesk_webhook_signature=None),
        "empty signature": with_headers(good, x_zendesk_webhook_signature=""),
        "truncated signature": with_headers(good, x_zendesk_webhook_signature=signature[:-4]),
        "hex instead of base64": with_headers(good, x_zendesk_webhook_signature=signature.encode().hex()),
        "non-ASCII signature": with_headers(good, x_zendesk_webhook_signature="é" + signature[1:]),
        "missing timestamp": with_headers(good, x_zendesk_webhook_signature_timestamp=None),
        "other timestamp": with_headers(good, x_zendesk_webhook_signature_timestamp="2025-03-14T09:21:11Z"),
        "timestamp not ISO-8601": signed(TICKET_CREATED, timestamp="yesterday"),
    }


@pytest.mark.parametrize("case", sorted(forgeries()))
def test_forged_requests_are_refused(case: str) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(forgeries()[case], CONFIG, now=NOW)


@pytest.mark.parametrize("offset_s", [301, -301, 3600])
def test_a_timestamp_more_than_five_minutes_away_is_refused(offset_s: int) -> None:
    timestamp = (NOW + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")

    with pytest.raises(Refused):
        ADAPTER.verify(signed(TICKET_CREATED, timestamp=timestamp), CONFIG, now=NOW)


@pytest.mark.parametrize("offset_s", [299, -299, 0])
def test_a_timestamp_within_five_minutes_is_accepted(offset_s: int) -> None:
    timestamp = (NOW + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%SZ")

    ADAPTER.verify(signed(TICKET_CREATED, timestamp=timestamp), CONFIG, now=NOW)


def test_the_signature_covers_the_timestamp_string_exactly() -> None:
    body = b""
    headers = {
        "x-zendesk-webhook-signature-timestamp": TIMESTAMP,
        "x-zendesk-webhook-signature": zendesk_signature(SECRET, TIMESTAMP, body),
    }

    ADAPTER.verify(WebhookRequest("GET", URL, headers, body, received_at=NOW), CONFIG, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"42",
        b'"text"',
        b"[]",
        b"[1, 2]",
        b"not json at all",
        b"\xff\xfe\xfa",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"hello": "world"}',
        b'{"type": "zen:event-type:ticket.created", "detail": []}',
        b'{"type": "zen:event-type:ticket.status_changed", "event": null, "detail": {"requester_id": {}}}',
        b'{"source": "zendesk_trigger", "satisfaction_rating": ["good"], "ticket_id": {"a": 1}}',
        b'{"source": "zendesk_trigger", "satisfaction_rating": "bad", "requester_email": 5}',
        b'{"type": 1, "source": null}',
        b'{"a": NaN}',
    ],
)
def test_any_body_is_either_parsed_or_a_bad_payload(body: bytes) -> None:
    try:
        delivery = ADAPTER.parse(signed(body))
    except BadPayload as error:
        assert ADAPTER.refusal(error) == Reply(400)
    else:
        assert isinstance(delivery.records, list)


@pytest.mark.parametrize("body", [b"", b"null", b"[1]", b"not json", b"\xff", b'{"hello": "world"}'])
def test_unreadable_bodies_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(signed(body))


def test_the_signing_secret_is_required_and_nothing_else_is_accepted() -> None:
    assert ADAPTER.prepare_config({"signing_secret": " s3cret "}) == {"signing_secret": "s3cret"}
    assert ADAPTER.secret_fields == ("signing_secret",)
    assert ADAPTER.uses_path_token is False
    for config in ({}, {"signing_secret": ""}, {"signing_secret": None}, {"signing_secret": "s", "token": "t"}):
        with pytest.raises(ConfigError):
            ADAPTER.prepare_config(config)


def test_replies() -> None:
    assert ADAPTER.reply(ADAPTER.parse(signed(TICKET_CREATED))) == Reply(200)
    assert ADAPTER.refusal(Refused("bad signature")) == Reply(401)
    assert ADAPTER.refusal(BadPayload("not JSON")) == Reply(400)
    assert ADAPTER.probe(WebhookRequest("HEAD", URL, {}, b"", NOW)) is None
