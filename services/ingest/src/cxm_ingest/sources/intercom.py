"""Intercom webhooks: customer messages and conversation ratings, signed `sha1=` + hex HMAC-SHA1 of the body."""

from __future__ import annotations

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
    from_epoch,
    html_to_text,
    load_json,
    normalise_email,
    require_header,
    same_signature,
    score_in_range,
    strip_prefix,
)

SOURCE = "intercom"
SIGNATURE_HEADER = "x-hub-signature"
CUSTOMER_AUTHOR_TYPES = ("user", "lead", "contact")
MESSAGE_TOPICS = {"conversation.user.created": "conversation_started", "conversation.user.replied": "message_received"}
RATING_TOPIC = "conversation.rating.added"


class IntercomAdapter:
    """Intercom: no timestamp is signed, so replays are left to dedupe on the notification id."""

    name = SOURCE
    secret_fields = ("client_secret",)
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require the app's client secret."""
        return check_config(config, required=("client_secret",))

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check `X-Hub-Signature: sha1=<hex HMAC-SHA1(client_secret, body)>`."""
        given = strip_prefix(require_header(request, SIGNATURE_HEADER), "sha1=").lower()
        expected = hmac.new(config["client_secret"].encode("utf-8"), request.body, hashlib.sha1).hexdigest()
        if not same_signature(expected, given):
            raise Refused("signature does not match")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Customer messages and ratings into records; ping and other topics are acknowledged with a note."""
        payload = load_json(request.body)
        if not isinstance(payload, dict):
            raise BadPayload("body is not a JSON object")
        topic = as_text(payload.get("topic"))
        if topic is None:
            raise BadPayload("notification has no topic")
        delivery_id = as_text(payload.get("id"))
        if topic == "ping":
            return Delivery(delivery_id, note="ping")
        if topic not in MESSAGE_TOPICS and topic != RATING_TOPIC:
            return Delivery(delivery_id, note=f"topic {topic} not used")
        item = as_dict(as_dict(payload.get("data")).get("item"))
        if not item:
            raise BadPayload(f"{topic} notification has no data.item")
        records = _rating_records(item) if topic == RATING_TOPIC else _message_records(item, MESSAGE_TOPICS[topic])
        return Delivery(delivery_id, records, note=None if records else f"{topic} carried nothing to store")

    def reply(self, delivery: Delivery) -> Reply:
        """Intercom only needs a fast 2xx (pings included)."""
        return Reply(200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """401 for a bad signature, 400 for an unreadable body."""
        return Reply(error.status)

    def probe(self, request: WebhookRequest) -> Reply | None:
        """Intercom's check is the signed `ping` topic, handled by parse."""
        return None


def _message_records(conversation: dict[str, Any], name: str) -> list[Record]:
    conversation_id = as_text(conversation.get("id"))
    if name == "conversation_started":
        message = as_dict(conversation.get("source"))
        occurred_at = from_epoch(conversation.get("created_at"))
        interaction_id = f"intercom:conversation:{conversation_id}" if conversation_id else None
    else:
        message = _last_customer_part(conversation)
        if not message:
            return []
        occurred_at = from_epoch(message.get("created_at")) or from_epoch(conversation.get("updated_at"))
        part_id = as_text(message.get("id"))
        interaction_id = f"intercom:conversation_part:{part_id}" if part_id else None
    message_id = as_text(message.get("id"))
    author = as_dict(message.get("author"))
    customer = _customer(conversation, author) or CustomerRef(keys=())
    metadata = {"conversation_id": conversation_id, "message_id": message_id, "url": as_text(message.get("url"))}
    metadata = {key: value for key, value in metadata.items() if value is not None}
    records: list[Record] = [
        InteractionRecord(
            name=name,
            source=SOURCE,
            external_id=interaction_id,
            customer=customer,
            occurred_at=occurred_at,
            channel="chat",
            properties=metadata,
        )
    ]
    body = message.get("body")
    text = html_to_text(body) if isinstance(body, str) else ""
    if text:
        records.append(
            FeedbackRecord(
                channel="chat",
                source=SOURCE,
                external_id=f"intercom:message:{message_id}" if message_id else None,
                customer=customer if customer.keys else None,
                text=text,
                occurred_at=occurred_at,
                metadata=metadata,
            )
        )
    return records


def _last_customer_part(conversation: dict[str, Any]) -> dict[str, Any]:
    parts = as_list(as_dict(conversation.get("conversation_parts")).get("conversation_parts"))
    for part in reversed(parts):
        if isinstance(part, dict) and as_dict(part.get("author")).get("type") in CUSTOMER_AUTHOR_TYPES:
            return part
    return {}


def _rating_records(item: dict[str, Any]) -> list[Record]:
    # The rating arrives inside the conversation (`conversation_rating`); accept a bare rating object too.
    rating = as_dict(item.get("conversation_rating")) if "conversation_rating" in item else item
    conversation_id = as_text(item.get("id")) if rating is not item else as_text(item.get("conversation_id"))
    raw_score = rating.get("rating")
    csat = score_in_range(raw_score, 1, 5)
    remark = as_text(rating.get("remark"))
    if csat is None and remark is None:
        return []
    contact = as_dict(rating.get("contact")) or as_dict(rating.get("customer"))
    author = as_dict(as_dict(item.get("source")).get("author"))
    metadata = {
        "conversation_id": conversation_id,
        "rating": raw_score if isinstance(raw_score, int | float | str) else None,
        "teammate_id": as_text(as_dict(rating.get("teammate")).get("id")),
    }
    record = FeedbackRecord(
        channel="chat",
        source=SOURCE,
        external_id=f"intercom:conversation_rating:{conversation_id}" if conversation_id else None,
        customer=_contact_ref(contact, author) if contact else _customer(item, author),
        text=remark,
        scores=Scores(csat=csat),
        occurred_at=from_epoch(rating.get("created_at")),
        metadata={key: value for key, value in metadata.items() if value is not None},
    )
    return [record]


def _customer(conversation: dict[str, Any], author: dict[str, Any]) -> CustomerRef | None:
    """The customer of a conversation: the customer author of the message, else its first contact."""
    listed = as_list(as_dict(conversation.get("contacts")).get("contacts"))
    contacts = [contact for contact in listed if isinstance(contact, dict)]
    if author.get("type") in CUSTOMER_AUTHOR_TYPES:
        author_id = as_text(author.get("id"))
        same = [contact for contact in contacts if as_text(contact.get("id")) == author_id]
        return _contact_ref({**author, **same[0]} if same else author, author)
    return _contact_ref(contacts[0], author) if contacts else None


def _contact_ref(contact: dict[str, Any], author: dict[str, Any]) -> CustomerRef | None:
    """Keys for an Intercom contact; the author's email and name count only when the author is that contact."""
    contact_id = as_text(contact.get("id"))
    same_person = contact_id is not None and as_text(author.get("id")) == contact_id
    email = normalise_email(contact.get("email")) or (normalise_email(author.get("email")) if same_person else None)
    name = as_text(contact.get("name")) or (as_text(author.get("name")) if same_person else None)
    return customer_ref([("intercom:contact", contact_id), ("crm", contact.get("external_id"))], email=email, name=name)


ADAPTER = IntercomAdapter()
