"""Delighted: unsigned survey webhooks authenticated by a URL token; responses become survey feedback."""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest
from cxm_ingest.sources.delighted import ADAPTER
from tests.ingest.signers import DELIGHTED_HEADERS

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
RESPONSE = (FIXTURES / "delighted_survey_response.json").read_bytes()
TOKEN = "dl-url-token-0123456789abcdef"
CONFIG = ADAPTER.prepare_config({"token": TOKEN})
URL = f"https://cxm.example.com/v1/webhooks/delighted/0190c0de-0000-7000-8000-000000000004/{TOKEN}"
NOW = datetime(2025, 3, 14, 9, 50, 10, tzinfo=UTC)
EVENT_ID = "3c9a0f6e1b2d4e5f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f"


def webhook(body: bytes, token: str | None = TOKEN) -> WebhookRequest:
    return WebhookRequest("POST", URL, dict(DELIGHTED_HEADERS), body, received_at=NOW, path_token=token)


def event(event_type: str = "survey_response.updated", **data: Any) -> bytes:
    payload = json.loads(RESPONSE)
    payload["event_type"] = event_type
    payload["event_data"].update(data)
    return json.dumps(payload).encode()


def test_a_url_token_is_generated_when_absent() -> None:
    config = ADAPTER.prepare_config({})

    assert len(config["token"]) >= 40
    assert ADAPTER.prepare_config({})["token"] != config["token"]
    assert ADAPTER.secret_fields == ("token",)
    assert ADAPTER.uses_path_token is True


@pytest.mark.parametrize("config", [{"secret": "x"}, {"token": ""}, {"token": None, "extra": 1}])
def test_unknown_fields_and_empty_tokens_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ADAPTER.prepare_config(config)


def test_the_right_url_token_is_accepted() -> None:
    ADAPTER.verify(webhook(RESPONSE), CONFIG, now=NOW)


@pytest.mark.parametrize("token", [None, "", "dl-url-token", TOKEN.upper(), TOKEN + "0", "dl-ürl-token"])
def test_a_missing_or_wrong_url_token_is_refused(token: str | None) -> None:
    with pytest.raises(Refused) as refused:
        ADAPTER.verify(webhook(RESPONSE, token=token), CONFIG, now=NOW)
    assert refused.value.status == 401


def test_an_updated_nps_response_becomes_survey_feedback_with_its_comment() -> None:
    delivery = ADAPTER.parse(webhook(RESPONSE))

    assert delivery.delivery_id == EVENT_ID
    (record,) = delivery.records
    assert isinstance(record, FeedbackRecord)
    assert record.channel == "survey"
    assert record.source == "delighted"
    assert record.external_id == "delighted:88120"
    assert record.scores == Scores(nps=6)
    assert record.text == "Product is solid, support response time not so much."
    assert record.customer is not None
    assert record.customer.keys == (("delighted:person", "450071"), ("email", "dana.reyes@example.org"))
    assert record.customer.name == "Dana Reyes"
    assert record.occurred_at == datetime.fromtimestamp(1741944100, tz=UTC)
    assert record.metadata["survey_type"] == "nps"
    assert record.metadata["person_properties"] == {"Customer ID": "cust_48813", "Plan": "Business"}
    assert record.metadata["additional_answers"] == [
        {"question": "What should we improve first?", "type": "select_many", "answer": ["Response time"]}
    ]


def test_created_and_updated_events_of_one_response_share_its_external_id() -> None:
    created = ADAPTER.parse(webhook(event("survey_response.created", comment=None))).records[0]
    updated = ADAPTER.parse(webhook(event("survey_response.updated"))).records[0]

    assert isinstance(created, FeedbackRecord) and isinstance(updated, FeedbackRecord)
    assert created.external_id == updated.external_id == "delighted:88120"
    assert created.text is None
    assert created.scores == Scores(nps=6)


def test_a_replayed_event_has_the_same_dedupe_id() -> None:
    assert ADAPTER.parse(webhook(RESPONSE)).delivery_id == ADAPTER.parse(webhook(RESPONSE)).delivery_id == EVENT_ID


@pytest.mark.parametrize(
    ("survey_type", "score", "scores"),
    [
        ("nps", 0, Scores(nps=0)),
        ("nps", 10, Scores(nps=10)),
        ("csat", 5, Scores(csat=5)),
        ("smileys", 1, Scores(csat=1)),
        ("five_star", 4, Scores(csat=4)),
        ("ces", 7, Scores(ces=7)),
        ("enps", 9, Scores()),
        ("thumbs", 1, Scores()),
    ],
)
def test_the_score_goes_to_the_scale_of_the_survey_type(survey_type: str, score: int, scores: Scores) -> None:
    (record,) = ADAPTER.parse(webhook(event(survey_type=survey_type, score=score))).records

    assert isinstance(record, FeedbackRecord)
    assert record.scores == scores


def test_a_response_without_a_survey_type_is_nps() -> None:
    payload = json.loads(RESPONSE)
    del payload["event_data"]["survey_type"]

    (record,) = ADAPTER.parse(webhook(json.dumps(payload).encode())).records

    assert isinstance(record, FeedbackRecord)
    assert record.scores == Scores(nps=6)


@pytest.mark.parametrize(
    ("survey_type", "score"), [("nps", 11), ("nps", -1), ("nps", 6.5), ("nps", "six"), ("csat", 0), ("ces", 8)]
)
def test_a_score_off_the_survey_scale_is_unprocessable(survey_type: str, score: Any) -> None:
    with pytest.raises(BadPayload) as bad:
        ADAPTER.parse(webhook(event(survey_type=survey_type, score=score)))
    assert bad.value.status == 422


def test_other_events_are_acknowledged_with_a_note() -> None:
    body = json.dumps(
        {"event_type": "unsubscribe.created", "event_id": "a" * 64, "event_data": {"person_id": "450071"}}
    ).encode()

    delivery = ADAPTER.parse(webhook(body))

    assert delivery.records == []
    assert delivery.delivery_id == "a" * 64
    assert delivery.note == "event unsubscribe.created is not used"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"\xff\xfe{}",
        b"[" * 100_000,
        b'{"event_id": "x"}',
        b'{"event_type": "survey_response.created", "event_data": []}',
        b'{"event_type": "survey_response.created", "event_id": 7, "event_data": {}}',
        event(id=None),
    ],
)
def test_unreadable_or_incomplete_bodies_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(webhook(body))


def test_replies_are_an_empty_200_and_refusals_carry_the_reason() -> None:
    reply = ADAPTER.reply(ADAPTER.parse(webhook(RESPONSE)))
    refusal = ADAPTER.refusal(Refused("URL token does not match"))

    assert (reply.status, reply.body) == (200, b"")
    assert (refusal.status, refusal.body) == (401, b"URL token does not match")
    assert ADAPTER.probe(webhook(RESPONSE)) is None
