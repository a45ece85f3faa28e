"""Freshdesk: unsigned automation-rule calls authenticated by our generated Basic credentials or token header."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxm_ingest.domain.records import FeedbackRecord, InteractionRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest
from cxm_ingest.sources.freshdesk import ADAPTER
from tests.ingest.signers import freshdesk_headers

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
TICKET = (FIXTURES / "freshdesk_ticket.json").read_bytes()
CONFIG = ADAPTER.prepare_config(
    {"username": "freshdesk", "password": "fd-password-0123456789", "token": "fd-token-abc"}
)
URL = "https://cxm.example.com/v1/webhooks/freshdesk/0190c0de-0000-7000-8000-000000000002"
NOW = datetime(2025, 3, 14, 9, 50, 5, tzinfo=UTC)


def call(body: bytes, headers: dict[str, str] | None = None) -> WebhookRequest:
    if headers is None:
        headers = freshdesk_headers("freshdesk", "fd-password-0123456789")
    return WebhookRequest("POST", URL, headers, body, received_at=NOW)


def ticket(**fields: Any) -> bytes:
    data = json.loads(TICKET)
    data["freshdesk_webhook"].update(fields)
    return json.dumps(data).encode()


def basic(credentials: str) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "authorization": "Basic " + base64.b64encode(credentials.encode()).decode(),
    }


# --- config -------------------------------------------------------------------------------------------------------


def test_missing_credentials_are_generated_and_given_ones_kept() -> None:
    generated = ADAPTER.prepare_config({})
    partial = ADAPTER.prepare_config({"password": "chosen-password"})

    assert generated["username"] == "freshdesk"
    assert len(generated["password"]) >= 40
    assert len(generated["token"]) >= 40
    assert generated["password"] != generated["token"]
    assert partial["password"] == "chosen-password"
    assert partial["token"]
    assert set(ADAPTER.secret_fields) == {"password", "token"}
    assert ADAPTER.uses_path_token is False


@pytest.mark.parametrize(
    "config", [{"api_key": "x"}, {"username": "a:b"}, {"password": ""}, {"token": 12.5}, {"username": ["x"]}]
)
def test_unknown_fields_and_unusable_credentials_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ADAPTER.prepare_config(config)


# --- verify -------------------------------------------------------------------------------------------------------


def test_the_generated_basic_credentials_are_accepted() -> None:
    ADAPTER.verify(call(TICKET), CONFIG, now=NOW)


def test_the_token_header_alone_is_accepted() -> None:
    ADAPTER.verify(call(TICKET, {"content-type": "application/json", "x-cxm-token": "fd-token-abc"}), CONFIG, now=NOW)


def test_the_token_as_a_freshdesk_api_key_is_accepted() -> None:
    ADAPTER.verify(call(TICKET, basic("fd-token-abc:X")), CONFIG, now=NOW)


def test_a_right_token_header_passes_even_beside_wrong_basic_credentials() -> None:
    headers = freshdesk_headers("freshdesk", "wrong-password", shared_token="fd-token-abc")

    ADAPTER.verify(call(TICKET, headers), CONFIG, now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        freshdesk_headers("freshdesk", "wrong-password"),
        freshdesk_headers("someone-else", "fd-password-0123456789"),
        freshdesk_headers("freshdesk", "fd-password-012345678"),
        freshdesk_headers("freshdesk", ""),
        basic("freshdesk"),
        basic(":"),
        {"authorization": "Basic !!!not-base64!!!"},
        {"authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
        {"authorization": "Bearer fd-token-abc"},
        {"authorization": "fd-token-abc"},
        {"x-cxm-token": "fd-token-abd"},
        {"x-cxm-token": "fd-token-ab"},
        {"x-cxm-token": "FD-TOKEN-ABC"},
        {"x-cxm-token": "fd-tökén"},
        {"x-cxm-token": ""},
        {},
    ],
)
def test_wrong_missing_or_malformed_credentials_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Refused) as refused:
        ADAPTER.verify(call(TICKET, headers), CONFIG, now=NOW)
    assert refused.value.status == 401


# --- parse --------------------------------------------------------------------------------------------------------


def test_a_resolved_ticket_update_is_a_solved_ticket_and_its_latest_comment_is_feedback() -> None:
    delivery = ADAPTER.parse(call(TICKET))

    interaction, feedback = delivery.records
    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "ticket_solved"
    assert interaction.source == "freshdesk"
    assert interaction.channel == "ticket"
    assert interaction.customer.keys == (("email", "dana.reyes@example.org"),)
    assert interaction.occurred_at == NOW  # the template sent no time: the call's arrival
    assert interaction.properties == {
        "ticket_id": "48213",
        "status": "Resolved",
        "priority": "High",
        "ticket_source": "Portal",
        "ticket_type": "Incident",
        "tags": ["reports", "export"],
        "team": "Tier 2",
        "agent": "agent.kim@example.com",
    }
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.channel == "ticket"
    assert feedback.text == "Thanks, it works again - but the wait was long."
    assert feedback.external_id is not None
    assert feedback.external_id.startswith("freshdesk:ticket:48213:comment:")
    assert feedback.customer == interaction.customer
    assert feedback.metadata["subject"] == "Report export broken"
    assert feedback.scores == Scores()


def test_a_created_ticket_is_an_opened_ticket_and_its_description_is_feedback_as_plain_text() -> None:
    body = ticket(
        triggered_event="{ticket_action:created}",
        ticket_status="Open",
        ticket_latest_public_comment="",
        ticket_contact_id=80012345,
        ticket_contact_name="Dana Reyes",
        ticket_created_at="2025-03-14T09:21:07Z",
        ticket_updated_at="2025-03-14T09:21:07Z",
    )

    interaction, feedback = ADAPTER.parse(call(body)).records

    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "ticket_opened"
    assert interaction.occurred_at == datetime(2025, 3, 14, 9, 21, 7, tzinfo=UTC)
    assert interaction.customer.keys == (("freshdesk:contact", "80012345"), ("email", "dana.reyes@example.org"))
    assert interaction.customer.name == "Dana Reyes"
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.external_id == "freshdesk:ticket:48213"
    assert feedback.text == "The export button on the reports page does nothing since this morning."
    assert feedback.occurred_at == datetime(2025, 3, 14, 9, 21, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "name"),
    [("Closed", "ticket_solved"), ("5", "ticket_solved"), ("Pending", "ticket_updated"), ("Open", "ticket_updated")],
)
def test_updates_are_named_by_the_ticket_status(status: str, name: str) -> None:
    (interaction, *_) = ADAPTER.parse(call(ticket(ticket_status=status))).records

    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == name


@pytest.mark.parametrize(
    ("rating", "csat"), [(103, 5), ("102", 4), (101, 4), (100, 3), (-101, 2), (-102, 2), (-103, 1)]
)
def test_a_satisfaction_rating_maps_freshdesk_codes_onto_csat(rating: Any, csat: int) -> None:
    body = ticket(ticket_satisfaction_rating=rating, ticket_satisfaction_comment="Slow but solved.")

    *_, survey = ADAPTER.parse(call(body)).records

    assert isinstance(survey, FeedbackRecord)
    assert survey.scores == Scores(csat=csat)
    assert survey.text == "Slow but solved."
    assert survey.external_id == "freshdesk:ticket:48213:satisfaction"


@pytest.mark.parametrize("rating", [5, 104, "Happy", 99.5, True])
def test_a_rating_that_is_not_a_freshdesk_code_is_unprocessable(rating: Any) -> None:
    with pytest.raises(BadPayload) as bad:
        ADAPTER.parse(call(ticket(ticket_satisfaction_rating=rating)))
    assert bad.value.status == 422


def test_an_unrendered_empty_rating_placeholder_is_no_rating() -> None:
    records = ADAPTER.parse(call(ticket(ticket_satisfaction_rating=""))).records

    assert len(records) == 2


def test_the_dedupe_id_is_the_ticket_and_its_update_time_when_sent() -> None:
    body = ticket(ticket_updated_at="2025-03-14T09:50:02Z")

    first = ADAPTER.parse(call(body))
    replayed = ADAPTER.parse(call(body))

    assert first.delivery_id == replayed.delivery_id == "48213:2025-03-14T09:50:02Z"
    interaction = first.records[0]
    assert isinstance(interaction, InteractionRecord)
    assert interaction.occurred_at == datetime(2025, 3, 14, 9, 50, 2, tzinfo=UTC)


def test_without_an_update_time_a_retried_call_dedupes_on_the_body_hash() -> None:
    first = ADAPTER.parse(call(TICKET))
    retried = ADAPTER.parse(call(TICKET))
    changed = ADAPTER.parse(call(ticket(ticket_latest_public_comment="Another reply.")))

    assert first.delivery_id == retried.delivery_id
    assert first.delivery_id is not None
    assert first.delivery_id.startswith("48213:")
    assert changed.delivery_id != first.delivery_id


def test_an_advanced_template_with_flat_keys_and_unescaped_placeholders_is_read() -> None:
    body = (
        b'{"ticket_id": 48213, "ticket_status": "Open", "ticket_contact_email": " Dana.Reyes@Example.ORG ",\n'
        b' "ticket_latest_public_comment": "It says "export failed"\nagain, C:\\reports is empty"}'
    )

    interaction, feedback = ADAPTER.parse(call(body)).records

    assert isinstance(interaction, InteractionRecord)
    assert interaction.customer.keys == (("email", "dana.reyes@example.org"),)
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.text is not None
    assert 'It says "export failed"' in feedback.text


def test_simple_content_with_an_unescaped_quote_is_read() -> None:
    body = TICKET.replace(b"the wait was long.", b'the "wait" was long.')

    _, feedback = ADAPTER.parse(call(body)).records

    assert isinstance(feedback, FeedbackRecord)
    assert feedback.text == 'Thanks, it works again - but the "wait" was long.'


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", 400),
        (b"null", 400),
        (b"[]", 400),
        (b"ticket_id=48213", 400),
        (b"\xff\xfe\x00", 400),
        (b"[" * 100_000, 400),
        (b'{"freshdesk_webhook": "x"}', 400),
        (ticket(ticket_id="{{ticket.id}}"), 422),
        (ticket(ticket_id=None), 422),
        (ticket(ticket_id=10**30), 422),
        (ticket(ticket_contact_email="", ticket_contact_id=None), 422),
        (ticket(ticket_contact_email="not an email"), 422),
    ],
)
def test_unreadable_or_incomplete_bodies_are_bad_payloads(body: bytes, status: int) -> None:
    with pytest.raises(BadPayload) as bad:
        ADAPTER.parse(call(body))
    assert bad.value.status == status


def test_replies_are_an_empty_200_and_refusals_carry_the_reason() -> None:
    reply = ADAPTER.reply(ADAPTER.parse(call(TICKET)))
    refusal = ADAPTER.refusal(Refused("credentials do not match"))

    assert (reply.status, reply.body) == (200, b"")
    assert (refusal.status, refusal.body) == (401, b"credentials do not match")
    assert ADAPTER.probe(call(TICKET)) is None
