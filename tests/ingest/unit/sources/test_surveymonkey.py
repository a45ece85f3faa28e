"""SurveyMonkey: base64 HMAC-SHA1 keyed `api_key&api_secret`, a HEAD check, and ids-only completed responses."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.surveymonkey import ADAPTER
from tests.ingest.signers import surveymonkey_headers, surveymonkey_signature

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
API_KEY = "sm-client-id-31f0"
API_SECRET = "sm-client-secret-9a7c"
CONFIG = ADAPTER.prepare_config({"api_key": API_KEY, "api_secret": API_SECRET})
URL = "https://cxm.example.com/webhooks/surveymonkey"
NOW = datetime(2025, 3, 14, 9, 45, tzinfo=UTC)
COMPLETED = (FIXTURES / "surveymonkey_response_completed.json").read_bytes()


def signed(body: bytes, api_key: str = API_KEY, api_secret: str = API_SECRET) -> WebhookRequest:
    return WebhookRequest("POST", URL, surveymonkey_headers(api_key, api_secret, body), body, received_at=NOW)


def test_a_completed_response_becomes_survey_feedback_holding_its_ids() -> None:
    request = signed(COMPLETED)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    assert delivery.delivery_id == "10448821177"
    (feedback,) = delivery.records
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.channel == "survey"
    assert feedback.source == "surveymonkey"
    assert feedback.external_id == "surveymonkey:512203987:118820334455"
    assert feedback.text is None
    assert feedback.scores == Scores()
    assert feedback.customer is None
    assert feedback.occurred_at == datetime(2025, 3, 14, 9, 44, 31, 182613, tzinfo=UTC)
    assert feedback.metadata == {
        "event_type": "response_completed",
        "response_id": "118820334455",
        "webhook": "CEM ingest - post-support survey",
        "survey_id": "512203987",
        "collector_id": "433019876",
        "respondent_id": "118820334455",
        "recipient_id": "0",
        "user_id": "90817263",
    }


def test_a_collector_filtered_event_still_names_the_survey_from_its_resources() -> None:
    payload = {**json.loads(COMPLETED), "filter_type": "collector", "filter_id": "433019876"}

    (feedback,) = ADAPTER.parse(signed(json.dumps(payload).encode())).records

    assert isinstance(feedback, FeedbackRecord)
    assert feedback.external_id == "surveymonkey:512203987:118820334455"


@pytest.mark.parametrize("event_type", ["response_updated", "response_disqualified", "survey_created"])
def test_other_events_are_acknowledged_with_a_note(event_type: str) -> None:
    body = json.dumps({**json.loads(COMPLETED), "event_type": event_type}).encode()

    assert ADAPTER.parse(signed(body)) == Delivery("10448821177", [], note=f"event type {event_type} not used")


def test_dedupe_ids_are_event_ids() -> None:
    other = json.dumps({**json.loads(COMPLETED), "event_id": "10448821178"}).encode()

    assert ADAPTER.parse(signed(COMPLETED)).delivery_id == ADAPTER.parse(signed(COMPLETED)).delivery_id
    assert ADAPTER.parse(signed(other)).delivery_id == "10448821178"


def test_the_head_check_is_answered_before_any_signature() -> None:
    assert ADAPTER.probe(WebhookRequest("HEAD", URL, {}, b"", received_at=NOW)) == Reply(200)
    assert ADAPTER.probe(signed(COMPLETED)) is None


def with_headers(body: bytes = COMPLETED, **headers: str) -> WebhookRequest:
    values = {name.replace("_", "-"): value for name, value in headers.items()}
    return WebhookRequest("POST", URL, values, body, received_at=NOW)


def forgeries() -> dict[str, WebhookRequest]:
    signature = surveymonkey_signature(API_KEY, API_SECRET, COMPLETED)
    return {
        "wrong secret": signed(COMPLETED, api_secret="another-secret"),
        "wrong api key": signed(COMPLETED, api_key="another-key"),
        "api key header of another app": with_headers(sm_apikey="another-key", sm_signature=signature),
        "tampered body": with_headers(COMPLETED.replace(b"118820334455", b"118820334456"), sm_signature=signature),
        "re-serialised JSON": with_headers(json.dumps(json.loads(COMPLETED)).encode(), sm_signature=signature),
        "missing signature": with_headers(sm_apikey=API_KEY),
        "empty signature": with_headers(sm_apikey=API_KEY, sm_signature=""),
        "truncated signature": with_headers(sm_signature=signature[:-2]),
        "prefixed signature": with_headers(sm_signature="sha1=" + signature),
        "secret alone as key": with_headers(sm_signature=surveymonkey_signature("", API_SECRET, COMPLETED)),
    }


@pytest.mark.parametrize("case", sorted(forgeries()))
def test_forged_requests_are_refused(case: str) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(forgeries()[case], CONFIG, now=NOW)


def test_the_signature_alone_is_enough_when_no_api_key_header_is_sent() -> None:
    ADAPTER.verify(with_headers(sm_signature=surveymonkey_signature(API_KEY, API_SECRET, COMPLETED)), CONFIG, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"[]",
        b"true",
        b"\xed\xa0\x80",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"event_id": "1"}',
        b'{"event_type": "response_completed"}',
        b'{"event_type": "response_completed", "object_id": 5, "resources": []}',
        b'{"event_type": "response_completed", "object_id": {}, "resources": {"survey_id": 1}}',
        b'{"event_type": "response_completed", "object_id": 1, "resources": {"survey_id": 2}, "event_datetime": 3}',
        b'{"event_type": {"x": 1}}',
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
    "body", [b"", b"null", b"not json", b'{"event_id": "1"}', b'{"event_type": "response_completed"}']
)
def test_unreadable_events_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(signed(body))


def test_the_api_key_and_secret_are_both_required() -> None:
    assert ADAPTER.secret_fields == ("api_key", "api_secret")
    assert ADAPTER.uses_path_token is False
    for config in ({}, {"api_key": "k"}, {"api_secret": "s"}, {"api_key": "", "api_secret": "s"}):
        with pytest.raises(ConfigError):
            ADAPTER.prepare_config(config)
    with pytest.raises(ConfigError):
        ADAPTER.prepare_config({"api_key": "k", "api_secret": "s", "access_token": "t"})


def test_replies() -> None:
    assert ADAPTER.reply(ADAPTER.parse(signed(COMPLETED))) == Reply(200)
    assert ADAPTER.refusal(Refused("bad signature")) == Reply(401)
    assert ADAPTER.refusal(BadPayload("not JSON")) == Reply(400)
