"""Typeform webhooks: one survey response per `form_response`, signed `sha256=` + base64 HMAC-SHA256 of the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    as_dict,
    as_list,
    as_text,
    check_config,
    customer_ref,
    load_json,
    normalise_email,
    parse_iso,
    require_header,
    rescale,
    same_signature,
    score_in_range,
    strip_prefix,
)

SOURCE = "typeform"
SIGNATURE_HEADER = "typeform-signature"
SCORED_FIELD_TYPES = ("nps", "opinion_scale", "rating")
TEXT_FIELD_TYPES = ("long_text", "short_text")
NAME_REFS = ("name", "full_name")
CRM_HIDDEN_FIELDS = ("customer_id", "user_id")
NPS_SCALE = (0, 10)
CSAT_SCALE = (1, 5)
CES_SCALE = (1, 7)
_RECOMMEND = re.compile(r"nps|recommend")
_EFFORT = re.compile(r"\b(effort|effortless|easy|easily|ease)\b")
_SATISFACTION = re.compile(r"satisf|csat")


class TypeformAdapter:
    """Typeform: no timestamp is signed; never answer 404/410, which disables the webhook."""

    name = SOURCE
    secret_fields = ("secret",)
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require the webhook's secret."""
        return check_config(config, required=("secret",))

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, body)>`."""
        given = strip_prefix(require_header(request, SIGNATURE_HEADER), "sha256=")
        mac = hmac.new(config["secret"].encode("utf-8"), request.body, hashlib.sha256)
        if not same_signature(base64.b64encode(mac.digest()).decode("ascii"), given):
            raise Refused("signature does not match")

    def parse(self, request: WebhookRequest) -> Delivery:
        """A completed response into one feedback record; partial responses are acknowledged with a note."""
        payload = load_json(request.body)
        if not isinstance(payload, dict):
            raise BadPayload("body is not a JSON object")
        delivery_id = as_text(payload.get("event_id"))
        event_type = as_text(payload.get("event_type")) or "form_response"
        if event_type != "form_response":
            return Delivery(delivery_id, note=f"event type {event_type} not used")
        response = payload.get("form_response")
        if not isinstance(response, dict):
            raise BadPayload("form_response is missing or not an object")
        return Delivery(delivery_id, [_feedback(response, event_type)])

    def reply(self, delivery: Delivery) -> Reply:
        """Typeform only needs a 2xx within 30 s."""
        return Reply(200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """401/400; never 404 or 410, which would disable the webhook."""
        if error.status in (404, 410):
            return Reply(401 if isinstance(error, Refused) else 400)
        return Reply(error.status)

    def probe(self, request: WebhookRequest) -> Reply | None:
        """Typeform sends no unsigned checks."""
        return None


def _feedback(response: dict[str, Any], event_type: str) -> FeedbackRecord:
    definition = as_dict(response.get("definition"))
    fields = {as_text(field.get("id")): field for field in as_list(definition.get("fields")) if isinstance(field, dict)}
    form_id = as_text(response.get("form_id")) or as_text(definition.get("id"))
    token = as_text(response.get("token"))
    scores: dict[str, int] = {}
    score_refs: dict[str, str] = {}
    raw_scores: dict[str, Any] = {}
    texts: list[str] = []
    emails: list[Any] = []
    other: dict[str, Any] = {}
    name: str | None = None
    phone: str | None = None
    for answer in as_list(response.get("answers")):
        if not isinstance(answer, dict):
            continue
        field = {**as_dict(fields.get(as_text(as_dict(answer.get("field")).get("id")))), **as_dict(answer.get("field"))}
        field_type = as_text(field.get("type")) or ""
        ref = as_text(field.get("ref")) or as_text(field.get("id")) or f"answer_{len(other)}"
        answer_type = as_text(answer.get("type")) or ""
        value = answer.get(answer_type) if answer_type else None
        if answer_type == "number" and field_type in SCORED_FIELD_TYPES:
            kind, score = _score(field, field_type, value)
            if kind is not None and score is not None and kind not in scores:
                scores[kind] = score
                score_refs[kind] = ref
                raw_scores[ref] = value
                continue
        if answer_type == "text" and (field_type in TEXT_FIELD_TYPES or not field_type):
            if ref.lower() in NAME_REFS and name is None:
                name = as_text(value)
            elif as_text(value) is not None:
                texts.append(str(value).strip())
            continue
        if answer_type == "email":
            emails.append(value)
            continue
        if answer_type == "phone_number" and phone is None:
            phone = as_text(value)
            continue
        other[ref] = _answer_value(answer_type, value)
    hidden = {str(key).lower(): value for key, value in as_dict(response.get("hidden")).items()}
    emails.append(hidden.pop("email", None))
    keys = [("crm", hidden.pop(field, None)) for field in CRM_HIDDEN_FIELDS]
    keys.extend(("email", email) for email in emails)
    primary_email = next((email for email in emails if normalise_email(email) is not None), None)
    customer = customer_ref(keys, email=primary_email, name=name, phone=phone)
    metadata: dict[str, Any] = {
        "event_type": event_type,
        "form_id": form_id,
        "form_title": as_text(definition.get("title")),
        "token": token,
        "landed_at": as_text(response.get("landed_at")),
        "score_fields": score_refs,
        "raw_scores": raw_scores,
        "answers": other,
        "hidden": hidden,
    }
    return FeedbackRecord(
        channel="survey",
        source=SOURCE,
        external_id=f"typeform:{form_id}:{token}" if form_id and token else None,
        customer=customer,
        text="\n\n".join(texts) or None,
        scores=Scores(nps=scores.get("nps"), csat=scores.get("csat"), ces=scores.get("ces")),
        touchpoint=as_text(hidden.get("touchpoint")),
        occurred_at=parse_iso(response.get("submitted_at")),
        metadata={key: value for key, value in metadata.items() if value not in (None, {})},
    )


def _score(field: dict[str, Any], field_type: str, value: Any) -> tuple[str | None, int | None]:
    """Which score a numeric answer is and its value on the canonical scale.

    NPS stays on 0–10 as given. CSAT is 1–5 and CES 1–7: a known scale is mapped linearly onto them, rounded half up
    (a 1–5 effort rating gives 1, 3, 4, 6, 7); an unknown scale is taken as given when it fits the canonical one.
    """
    ref = (as_text(field.get("ref")) or "").lower()
    hint = f"{ref} {as_text(field.get('title')) or ''}".lower().replace("_", " ").replace("-", " ")
    scale = _scale(field_type, as_dict(field.get("properties")))
    if field_type == "nps" or _RECOMMEND.search(hint):
        return "nps", score_in_range(value, *NPS_SCALE)
    if _EFFORT.search(hint):
        return "ces", rescale(value, scale, CES_SCALE) if scale else score_in_range(value, *CES_SCALE)
    if _SATISFACTION.search(hint) or scale == CSAT_SCALE:
        if scale is None or scale == CSAT_SCALE:
            return "csat", score_in_range(value, *CSAT_SCALE)
        return "csat", rescale(value, scale, CSAT_SCALE)
    if scale == NPS_SCALE:
        return "nps", score_in_range(value, *NPS_SCALE)
    return None, None


def _scale(field_type: str, properties: dict[str, Any]) -> tuple[int, int] | None:
    """The answer range of a scored field, from its properties or Typeform's defaults; None when unknown."""
    steps = score_in_range(properties.get("steps"), 2, 11)
    if field_type == "nps":
        return NPS_SCALE
    if field_type == "rating":
        return (1, steps or 5)
    if steps is not None:
        low = 1 if properties.get("start_at_one") is True else 0
        return (low, low + steps - 1)
    return None


def _answer_value(answer_type: str, value: Any) -> Any:
    """A non-score answer for metadata: choice labels instead of choice objects."""
    if answer_type == "choice":
        choice = as_dict(value)
        return as_text(choice.get("label")) or as_text(choice.get("other"))
    if answer_type == "choices":
        choices = as_dict(value)
        labels = [label for label in (as_text(item) for item in as_list(choices.get("labels"))) if label]
        other = as_text(choices.get("other"))
        return [*labels, other] if other else labels
    return value


ADAPTER = TypeformAdapter()
