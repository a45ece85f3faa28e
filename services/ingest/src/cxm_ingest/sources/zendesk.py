"""Zendesk webhooks: event subscriptions (`zen:event-type:ticket.*`) and the recommended satisfaction trigger body."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from cxm_ingest.domain.records import CustomerRef, FeedbackRecord, InteractionRecord, Record, Scores
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    as_dict,
    as_list,
    as_text,
    check_config,
    customer_ref,
    header,
    load_json,
    load_lenient_object,
    parse_iso,
    require_header,
    same_signature,
    within_tolerance,
)

SOURCE = "zendesk"
SIGNATURE_HEADER = "x-zendesk-webhook-signature"
TIMESTAMP_HEADER = "x-zendesk-webhook-signature-timestamp"
INVOCATION_HEADER = "x-zendesk-webhook-invocation-id"
EVENT_TYPE_PREFIX = "zen:event-type:"
SOLVED_STATUSES = ("solved", "closed")
# Ticket events stored as interactions; the others are acknowledged with a note.
TICKET_EVENT_NAMES = {
    "ticket.comment_added": "ticket_comment_added",
    "ticket.priority_changed": "ticket_priority_changed",
    "ticket.agent_assignment_changed": "ticket_assigned",
    "ticket.group_assignment_changed": "ticket_assigned",
}
CSAT_BY_RATING = {"good": 5, "bad": 1}


class ZendeskAdapter:
    """Zendesk: base64 HMAC-SHA256 over the signed timestamp plus the raw body."""

    name = SOURCE
    secret_fields = ("signing_secret",)
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require the webhook's signing secret."""
        return check_config(config, required=("signing_secret",))

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check the signature over timestamp + body, then that the timestamp is within 5 minutes of now."""
        signature = require_header(request, SIGNATURE_HEADER)
        timestamp = require_header(request, TIMESTAMP_HEADER)
        mac = hmac.new(
            config["signing_secret"].encode("utf-8"), timestamp.encode("utf-8") + request.body, hashlib.sha256
        )
        if not same_signature(base64.b64encode(mac.digest()).decode("ascii"), signature):
            raise Refused("signature does not match")
        signed_at = parse_iso(timestamp)
        if signed_at is None:
            raise Refused("signature timestamp is not ISO-8601")
        if not within_tolerance(signed_at, now):
            raise Refused("signature timestamp is more than 5 minutes from now")

    def parse(self, request: WebhookRequest) -> Delivery:
        """An event webhook or the recommended trigger body into records."""
        invocation_id = header(request, INVOCATION_HEADER)
        lenient = False
        try:
            payload = load_json(request.body)
        except BadPayload:
            payload = load_lenient_object(request.body)
            lenient = True
        if not isinstance(payload, dict):
            raise BadPayload("body is not a JSON object")
        event_type = payload.get("type")
        if isinstance(event_type, str) and event_type.startswith(EVENT_TYPE_PREFIX):
            return _parse_event(payload, event_type[len(EVENT_TYPE_PREFIX) :], invocation_id)
        if payload.get("source") == "zendesk_trigger" or "satisfaction_rating" in payload:
            raw_body = request.body.decode("utf-8", errors="replace") if lenient else None
            return _parse_trigger(payload, invocation_id, raw_body)
        raise BadPayload("neither a Zendesk event (type zen:event-type:…) nor the recommended trigger body")

    def reply(self, delivery: Delivery) -> Reply:
        """Zendesk only needs a fast 2xx."""
        return Reply(200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """401 for a bad signature, 400 for an unreadable body."""
        return Reply(error.status)

    def probe(self, request: WebhookRequest) -> Reply | None:
        """Zendesk sends no unsigned checks."""
        return None


def _parse_event(payload: dict[str, Any], event_type: str, invocation_id: str | None) -> Delivery:
    event_id = as_text(payload.get("id"))
    delivery_id = event_id or (f"invocation:{invocation_id}" if invocation_id else None)
    if not event_type.startswith("ticket."):
        return Delivery(delivery_id, note=f"event type {event_type} not used")
    detail = as_dict(payload.get("detail"))
    event = as_dict(payload.get("event"))
    ticket_id = as_text(detail.get("id")) or _ticket_id_from_subject(payload.get("subject"))
    name = _interaction_name(event_type, event)
    if name is None:
        return Delivery(delivery_id, note=f"event type {event_type} not used")
    customer = customer_ref([("zendesk:user", detail.get("requester_id"))])
    if customer is None:
        return Delivery(delivery_id, note=f"{event_type} without a requester")
    occurred_at = parse_iso(payload.get("time")) or parse_iso(detail.get("updated_at"))
    properties = _ticket_properties(detail, ticket_id, event_type)
    if event_type == "ticket.status_changed":
        changes = {"previous_status": _lower(event.get("previous")), "status": _lower(event.get("current"))}
        properties.update({key: value for key, value in changes.items() if value is not None})
    if invocation_id is not None:
        properties["invocation_id"] = invocation_id
    records: list[Record] = [
        InteractionRecord(
            name=name,
            source=SOURCE,
            external_id=f"zendesk:event:{event_id}" if event_id else None,
            customer=customer,
            occurred_at=occurred_at,
            channel="ticket",
            properties=properties,
        )
    ]
    description = as_text(detail.get("description"))
    if event_type == "ticket.created" and description is not None:
        records.append(
            FeedbackRecord(
                channel="ticket",
                source=SOURCE,
                external_id=f"zendesk:ticket:{ticket_id}" if ticket_id else None,
                customer=customer,
                text=description,
                occurred_at=parse_iso(detail.get("created_at")) or occurred_at,
                metadata={key: value for key, value in properties.items() if key != "event_type"},
            )
        )
    return Delivery(delivery_id, records)


def _interaction_name(event_type: str, event: dict[str, Any]) -> str | None:
    if event_type == "ticket.created":
        return "ticket_opened"
    if event_type == "ticket.status_changed":
        return "ticket_solved" if _lower(event.get("current")) in SOLVED_STATUSES else "ticket_status_changed"
    return TICKET_EVENT_NAMES.get(event_type)


def _ticket_properties(detail: dict[str, Any], ticket_id: str | None, event_type: str) -> dict[str, Any]:
    tags = [tag for tag in (as_text(tag) for tag in as_list(detail.get("tags"))) if tag is not None]
    properties: dict[str, Any] = {
        "event_type": event_type,
        "ticket_id": ticket_id,
        "subject": as_text(detail.get("subject")),
        "status": _lower(detail.get("status")),
        "priority": _lower(detail.get("priority")),
        "type": _lower(detail.get("type")),
        "via": as_text(as_dict(detail.get("via")).get("channel")),
        "assignee_id": as_text(detail.get("assignee_id")),
        "group_id": as_text(detail.get("group_id")),
        "tags": tags,
    }
    return {key: value for key, value in properties.items() if value not in (None, [])}


def _parse_trigger(payload: dict[str, Any], invocation_id: str | None, raw_body: str | None) -> Delivery:
    ticket_id = _placeholder(payload.get("ticket_id"))
    updated_at = _placeholder(payload.get("ticket_updated_at"))
    event = _placeholder(payload.get("event")) or "trigger"
    if ticket_id is not None and updated_at is not None:
        delivery_id: str | None = f"trigger:{ticket_id}:{updated_at}:{event}"
    else:
        delivery_id = f"invocation:{invocation_id}" if invocation_id else None
    raw_rating = _placeholder(payload.get("satisfaction_rating"))
    csat = _csat(raw_rating)
    comment = _placeholder(payload.get("satisfaction_comment"))
    if csat is None and comment is None:
        return Delivery(delivery_id, note=f"trigger {event} carries no good/bad satisfaction rating")
    metadata: dict[str, Any] = {
        "event": event,
        "ticket_id": ticket_id,
        "rating": raw_rating,
        "assignee_email": _placeholder(payload.get("assignee_email")),
        "invocation_id": invocation_id,
        "raw_body": raw_body,
    }
    customer: CustomerRef | None = customer_ref(
        [("zendesk:user", _placeholder(payload.get("requester_id")))],
        email=_placeholder(payload.get("requester_email")),
    )
    record = FeedbackRecord(
        channel="ticket",
        source=SOURCE,
        external_id=f"zendesk:satisfaction:{ticket_id}" if ticket_id else None,
        customer=customer,
        text=comment,
        scores=Scores(csat=csat),
        occurred_at=parse_iso(updated_at),
        metadata={key: value for key, value in metadata.items() if value is not None},
    )
    return Delivery(delivery_id, [record])


def _csat(rating: str | None) -> int | None:
    # Zendesk renders the rating as "good"/"bad", sometimes with a sentence ("Good, I'm satisfied").
    if rating is None:
        return None
    words = rating.lower().replace(",", " ").split()
    return CSAT_BY_RATING.get(words[0]) if words else None


def _placeholder(value: Any) -> str | None:
    """A rendered placeholder value; None when blank or left unrendered (`{{…}}`)."""
    text = as_text(value)
    if text is None or (text.startswith("{{") and text.endswith("}}")):
        return None
    return text


def _ticket_id_from_subject(subject: Any) -> str | None:
    text = as_text(subject)
    if text is None or not text.startswith("zen:ticket:"):
        return None
    return text[len("zen:ticket:") :] or None


def _lower(value: Any) -> str | None:
    text = as_text(value)
    return text.lower() if text is not None else None


ADAPTER = ZendeskAdapter()
