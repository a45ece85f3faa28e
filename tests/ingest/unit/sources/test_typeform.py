"""Typeform: `sha256=` base64 HMAC of the body, one response becomes one survey feedback with NPS/CSAT/CES and text."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.typeform import ADAPTER
from tests.ingest.signers import typeform_headers, typeform_signature

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
SECRET = "tf-webhook-secret-77d0"
CONFIG = ADAPTER.prepare_config({"secret": SECRET})
URL = "https://cxm.example.com/webhooks/typeform"
NOW = datetime(2025, 3, 14, 9, 43, tzinfo=UTC)
RESPONSE = (FIXTURES / "typeform_form_response.json").read_bytes()


def signed(body: bytes, secret: str = SECRET) -> WebhookRequest:
    return WebhookRequest("POST", URL, typeform_headers(secret, body), body, received_at=NOW)


def feedback_for(fields: list[dict[str, Any]], answers: list[dict[str, Any]], **response: Any) -> FeedbackRecord:
    payload = {
        "event_id": "01JPBTEST",
        "event_type": "form_response",
        "form_response": {
            "form_id": "F1",
            "token": "t1",
            "submitted_at": "2025-03-14T09:42:55Z",
            "definition": {"id": "F1", "title": "Survey", "fields": fields},
            "answers": answers,
            **response,
        },
    }
    (record,) = ADAPTER.parse(signed(json.dumps(payload).encode())).records
    assert isinstance(record, FeedbackRecord)
    return record


def scale_field(field_type: str, ref: str, title: str, **properties: Any) -> dict[str, Any]:
    return {"id": ref, "ref": ref, "type": field_type, "title": title, "properties": properties}


def number(ref: str, field_type: str, value: Any) -> dict[str, Any]:
    return {"type": "number", "number": value, "field": {"id": ref, "type": field_type, "ref": ref}}


def text(ref: str, value: str, field_type: str = "long_text") -> dict[str, Any]:
    return {"type": "text", "text": value, "field": {"id": ref, "type": field_type, "ref": ref}}


def test_the_example_response_becomes_one_survey_feedback_with_all_three_scores() -> None:
    request = signed(RESPONSE)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    assert delivery.delivery_id == "01JPBA3K7Q2M9XW4D6F8H0J1NB"
    (feedback,) = delivery.records
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.channel == "survey"
    assert feedback.source == "typeform"
    assert feedback.external_id == "typeform:Xq7LmP2a:7f3c2b1a9e8d4c6b5a4f3e2d1c0b9a8f"
    # nps field → NPS 6; "satisfied" opinion scale → CSAT 2; "easy" 1–5 rating of 3 → CES 4 on 1–7.
    assert feedback.scores == Scores(nps=6, csat=2, ces=4)
    assert feedback.text == "First reply took two days; the fix itself was quick."
    assert feedback.occurred_at == datetime(2025, 3, 14, 9, 42, 55, tzinfo=UTC)
    assert feedback.customer is not None
    assert feedback.customer.keys == (("crm", "cust_48813"), ("email", "dana.reyes@example.org"))
    assert feedback.customer.email == "dana.reyes@example.org"
    assert feedback.metadata["hidden"] == {"ticket_id": "48213"}
    assert feedback.metadata["answers"] == {"contact_channel": "Chat"}
    assert feedback.metadata["score_fields"] == {"nps": "nps_recommend", "csat": "csat_support", "ces": "ease_rating"}
    assert feedback.metadata["raw_scores"] == {"nps_recommend": 6, "csat_support": 2, "ease_rating": 3}


def test_an_eleven_step_opinion_scale_is_nps() -> None:
    fields = [scale_field("opinion_scale", "overall", "How would you rate us overall?", steps=11)]

    feedback = feedback_for(fields, [number("overall", "opinion_scale", 9)])

    assert feedback.scores == Scores(nps=9)


@pytest.mark.parametrize(("answer", "ces"), [(1, 1), (2, 3), (3, 4), (4, 6), (5, 7)])
def test_a_five_star_effort_rating_is_spread_onto_the_seven_point_ces_scale(answer: int, ces: int) -> None:
    fields = [scale_field("rating", "effort", "How much effort did it take?", steps=5)]

    assert feedback_for(fields, [number("effort", "rating", answer)]).scores == Scores(ces=ces)


def test_a_seven_point_ease_scale_is_ces_as_given() -> None:
    fields = [scale_field("opinion_scale", "ces", "It was easy to get help", steps=7, start_at_one=True)]

    assert feedback_for(fields, [number("ces", "opinion_scale", 6)]).scores == Scores(ces=6)


def test_a_plain_five_star_rating_is_csat() -> None:
    fields = [scale_field("rating", "stars", "Rate your visit", steps=5)]

    assert feedback_for(fields, [number("stars", "rating", 4)]).scores == Scores(csat=4)


@pytest.mark.parametrize(("answer", "csat"), [(0, 1), (5, 3), (7, 4), (10, 5)])
def test_a_satisfaction_question_on_zero_to_ten_is_mapped_onto_csat(answer: int, csat: int) -> None:
    fields = [scale_field("opinion_scale", "sat", "How satisfied are you?", steps=11)]

    assert feedback_for(fields, [number("sat", "opinion_scale", answer)]).scores == Scores(csat=csat)


def test_an_out_of_range_score_is_kept_in_metadata_only() -> None:
    fields = [scale_field("nps", "nps", "Recommend us?")]

    feedback = feedback_for(fields, [number("nps", "nps", 11)])

    assert feedback.scores == Scores()
    assert feedback.metadata["answers"] == {"nps": 11}


def test_several_text_answers_are_joined_and_identities_become_customer_keys() -> None:
    fields = [
        {"id": "a", "ref": "liked", "type": "long_text", "title": "What did you like?"},
        {"id": "b", "ref": "name", "type": "short_text", "title": "Your name"},
        {"id": "c", "ref": "improve", "type": "short_text", "title": "What should change?"},
    ]
    answers = [
        text("liked", "  The agent was patient. "),
        text("name", "Dana Reyes", "short_text"),
        text("improve", "Faster first reply.", "short_text"),
        {"type": "phone_number", "phone_number": "+351912345678", "field": {"id": "p", "type": "phone_number"}},
    ]
    hidden = {"email": "DANA@example.org", "user_id": "u-7", "touchpoint": "support"}

    feedback = feedback_for(fields, answers, hidden=hidden)

    assert feedback.text == "The agent was patient.\n\nFaster first reply."
    assert feedback.touchpoint == "support"
    assert feedback.customer is not None
    assert feedback.customer.keys == (("crm", "u-7"), ("email", "dana@example.org"), ("phone", "+351912345678"))
    assert feedback.customer.name == "Dana Reyes"
    assert feedback.customer.phone == "+351912345678"


def test_a_response_without_any_identity_has_no_customer() -> None:
    assert feedback_for([], [text("x", "Nice.")]).customer is None


def test_a_partial_response_is_acknowledged_with_a_note() -> None:
    body = b'{"event_id": "e1", "event_type": "form_response_partial", "form_response": {"token": "t"}}'

    assert ADAPTER.parse(signed(body)) == Delivery("e1", [], note="event type form_response_partial not used")


def test_dedupe_ids_are_event_ids() -> None:
    payload = json.loads(RESPONSE)
    other = json.dumps({**payload, "event_id": "01JPBOTHER"}).encode()

    assert ADAPTER.parse(signed(RESPONSE)).delivery_id == ADAPTER.parse(signed(RESPONSE)).delivery_id
    assert ADAPTER.parse(signed(other)).delivery_id == "01JPBOTHER"


def with_signature(value: str | None, body: bytes = RESPONSE) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if value is not None:
        headers["typeform-signature"] = value
    return WebhookRequest("POST", URL, headers, body, received_at=NOW)


def forgeries() -> dict[str, WebhookRequest]:
    signature = typeform_signature(SECRET, RESPONSE)
    digest = signature.removeprefix("sha256=")
    return {
        "wrong secret": signed(RESPONSE, secret="another-secret"),
        "tampered body": with_signature(signature, RESPONSE.replace(b'"number": 6', b'"number": 9')),
        "re-serialised JSON": with_signature(signature, json.dumps(json.loads(RESPONSE)).encode()),
        "missing signature": with_signature(None),
        "empty signature": with_signature(""),
        "prefix only": with_signature("sha256="),
        "truncated signature": with_signature(signature[:-2]),
        "no scheme prefix": with_signature(digest),
        "sha1 scheme": with_signature("sha1=" + digest),
        "hex digest": with_signature("sha256=" + base64.b64decode(digest).hex()),
    }


@pytest.mark.parametrize("case", sorted(forgeries()))
def test_forged_requests_are_refused(case: str) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(forgeries()[case], CONFIG, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"1e999",
        b"\x80",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"event_id": "e"}',
        b'{"event_type": "form_response", "form_response": []}',
        b'{"form_response": {"answers": {"a": 1}, "definition": []}}',
        b'{"form_response": {"answers": [null, 1, {"type": "number"}, {"type": ["x"]}, {"field": 3}]}}',
        b'{"form_response": {"answers": [{"type": "number", "number": 1e308, "field": {"type": "rating"}}]}}',
        b'{"form_response": {"answers": [{"type": "choices", "choices": {"labels": "x"}}], "hidden": []}}',
        b'{"form_response": {"definition": {"fields": [{"id": ["x"], "properties": {"steps": "many"}}]}}}',
        b'{"form_response": {"hidden": {"email": ["a@b.c"], "customer_id": {"x": 1}}}}',
    ],
)
def test_any_body_is_either_parsed_or_a_bad_payload(body: bytes) -> None:
    try:
        delivery = ADAPTER.parse(WebhookRequest("POST", URL, {}, body, received_at=NOW))
    except BadPayload as error:
        assert ADAPTER.refusal(error) == Reply(400)
    else:
        assert isinstance(delivery.records, list)


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"{", b'{"event_id": "e", "event_type": "form_response"}'])
def test_a_body_without_a_form_response_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(signed(body))


def test_the_secret_is_required_and_nothing_else_is_accepted() -> None:
    assert ADAPTER.secret_fields == ("secret",)
    for config in ({}, {"secret": ""}, {"secret": "s", "signing_secret": "t"}, {"token": "t"}):
        with pytest.raises(ConfigError):
            ADAPTER.prepare_config(config)


def test_replies_never_disable_the_webhook() -> None:
    assert ADAPTER.reply(ADAPTER.parse(signed(RESPONSE))) == Reply(200)
    assert ADAPTER.refusal(Refused("bad signature")) == Reply(401)
    assert ADAPTER.refusal(BadPayload("no form_response")) == Reply(400)
    assert ADAPTER.refusal(Refused("unknown connection", status=404)) == Reply(401)
    assert ADAPTER.refusal(BadPayload("gone", status=410)) == Reply(400)
    assert ADAPTER.probe(WebhookRequest("HEAD", URL, {}, b"", NOW)) is None
