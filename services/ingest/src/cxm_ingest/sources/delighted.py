"""Delighted survey webhooks, which Delighted does not sign: a generated token in the URL path authenticates them.

`survey_response.created` (the score, usually no comment yet) and `survey_response.updated` (score or comment
changed) become one feedback record (channel `survey`) whose external id is the response id, so the update replaces
the creation downstream. The score goes by `survey_type`: `nps` (or absent, Delighted's default) and the 0–10 scale
of an NPS survey → NPS; `csat`, `smileys` and `five_star` (1–5) → CSAT; `ces` (1–7) → CES; other types (`enps`,
`thumbs`, `pmf`) keep their score in metadata only. Other events (`unsubscribe.created`, …) are acknowledged with a
note. Customer keys: `delighted:person` and `email`. Dedupe: `event_id`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    as_dict,
    as_list,
    as_text,
    check_config,
    customer_ref,
    from_epoch,
    load_json,
    same_signature,
    score_in_range,
)

SOURCE = "delighted"
RESPONSE_EVENTS = ("survey_response.created", "survey_response.updated")
# Delighted survey type → (our score, its scale).
SURVEY_SCORES = {
    "nps": ("nps", 0, 10),
    "csat": ("csat", 1, 5),
    "smileys": ("csat", 1, 5),
    "five_star": ("csat", 1, 5),
    "ces": ("ces", 1, 7),
}


class DelightedAdapter:
    """Delighted webhooks, authenticated by a generated URL token."""

    name = SOURCE
    secret_fields: tuple[str, ...] = ("token",)
    uses_path_token = True
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Generate the URL token when absent."""
        prepared: dict[str, Any] = check_config(config, required=(), optional=("token",))
        prepared.setdefault("token", secrets.token_urlsafe(32))
        return prepared

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check the URL token."""
        token = str(config.get("token", ""))
        if not token:
            raise ConfigError("the connection has no token")
        if not request.path_token:
            raise Refused("missing URL token")
        if not same_signature(token, request.path_token):
            raise Refused("URL token does not match")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Read a survey response event into one feedback record."""
        body = load_json(request.body)
        if not isinstance(body, dict):
            raise BadPayload("body must be a JSON object")
        event_type = as_text(body.get("event_type"))
        if event_type is None:
            raise BadPayload("event_type is missing")
        event_id = body.get("event_id")
        if event_id is not None and not isinstance(event_id, str):
            raise BadPayload("event_id must be a string")
        if event_type not in RESPONSE_EVENTS:
            return Delivery(delivery_id=event_id, note=f"event {event_type} is not used")
        data = body.get("event_data")
        if not isinstance(data, dict):
            raise BadPayload("event_data must be an object")
        return Delivery(delivery_id=event_id, records=[_response(data, request.received_at)])

    def reply(self, delivery: Delivery) -> Reply:
        """An empty 200."""
        return Reply(status=200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """The status with the reason as plain text."""
        return Reply(status=error.status, body=error.reason.encode(), content_type="text/plain; charset=utf-8")

    def probe(self, request: WebhookRequest) -> Reply | None:
        """No unsigned checks."""
        return None


def _response(data: dict[str, Any], received_at: datetime) -> FeedbackRecord:
    response_id = as_text(data.get("id"))
    if response_id is None:
        raise BadPayload("event_data.id is missing", status=422)
    person = as_dict(data.get("person"))
    customer = customer_ref(
        [(f"{SOURCE}:person", person.get("id"))], email=person.get("email"), name=person.get("name")
    )
    survey_type = as_text(data.get("survey_type")) or "nps"
    metadata: dict[str, Any] = {"survey_type": survey_type}
    scores = Scores()
    raw_score = data.get("score")
    if raw_score is not None:
        if survey_type in SURVEY_SCORES:
            kind, low, high = SURVEY_SCORES[survey_type]
            score = score_in_range(raw_score, low, high)
            if score is None:
                raise BadPayload(f"event_data.score must be a whole number {low}–{high} for {survey_type}", status=422)
            scores = Scores(**{kind: score})
        else:
            metadata["score"] = as_text(raw_score)
    text = as_text(data.get("comment")) if isinstance(data.get("comment"), str) else None
    if data.get("permalink"):
        metadata["permalink"] = as_text(data.get("permalink"))
    tags = [tag for tag in as_list(data.get("tags")) if isinstance(tag, str)]
    if tags:
        metadata["tags"] = tags
    properties = as_dict(data.get("person_properties"))
    if properties:
        metadata["person_properties"] = properties
    answers = [_answer(answer) for answer in as_list(data.get("additional_answers"))]
    if any(answers):
        metadata["additional_answers"] = [answer for answer in answers if answer]
    updated_at = from_epoch(data.get("updated_at"))
    if updated_at is not None:
        metadata["updated_at"] = updated_at.isoformat()
    return FeedbackRecord(
        channel="survey",
        source=SOURCE,
        external_id=f"{SOURCE}:{response_id}",
        customer=customer,
        text=text,
        scores=scores,
        occurred_at=from_epoch(data.get("created_at")) or received_at,
        metadata=metadata,
    )


def _answer(answer: Any) -> dict[str, Any] | None:
    answer = as_dict(answer)
    value = as_dict(answer.get("value"))
    scale = value.get("scale")
    choices = [as_text(as_dict(choice).get("text")) for choice in as_list(value.get("select_many"))]
    result: Any = as_text(value.get("free_response"))
    if result is None and isinstance(scale, int) and not isinstance(scale, bool):
        result = scale
    if result is None:
        result = as_text(as_dict(value.get("select_one")).get("text"))
    if result is None:
        result = [choice for choice in choices if choice] or None
    if result is None:
        return None
    question = as_dict(answer.get("question"))
    return {"question": as_text(question.get("text")), "type": as_text(question.get("type")), "answer": result}


ADAPTER = DelightedAdapter()
