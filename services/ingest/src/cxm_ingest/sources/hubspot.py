"""HubSpot webhooks: a JSON array of CRM events, signed v3 (HMAC with timestamp) or legacy v1/v2 (plain SHA-256)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any

from cxm_ingest.domain.records import CustomerRecord, CustomerRef, FeedbackRecord, InteractionRecord, Record
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    as_list,
    as_number,
    as_text,
    check_config,
    customer_ref,
    from_epoch,
    header,
    load_json,
    require_header,
    same_signature,
    within_tolerance,
)

SOURCE = "hubspot"
V3_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
LEGACY_HEADER = "x-hubspot-signature"
VERSION_HEADER = "x-hubspot-signature-version"
# Generic `object.*` subscriptions name the object type by id.
OBJECT_TYPES = {"0-1": "contact", "0-5": "ticket", "0-19": "feedback_submission"}
# Contact properties that become customer attributes, by attribute name.
CONTACT_ATTRIBUTES = {
    "lifecyclestage": "segment",
    "hs_lead_status": "hs_lead_status",
    "annualrevenue": "value",
    "company": "account",
    "hubspot_owner_id": "agent",
    "country": "region",
    "state": "state",
}
# Characters the v3 docs say to URL-decode before signing (not the `?` that starts the query).
V3_DECODED = {
    "%3a": ":",
    "%2f": "/",
    "%3f": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2a": "*",
    "%2c": ",",
    "%3b": ";",
}
_V3_ENCODED = re.compile("|".join(V3_DECODED), re.IGNORECASE)


class HubSpotAdapter:
    """HubSpot: v3 when its header is present, else the legacy v1/v2 signature."""

    name = SOURCE
    secret_fields = ("client_secret",)
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require the app's client secret; the app id is optional."""
        return check_config(config, required=("client_secret",), optional=("app_id",))

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """v3: HMAC over method + URL + body + timestamp within 5 minutes; else v1/v2 by the version header."""
        secret = config["client_secret"].encode("utf-8")
        if V3_HEADER in request.headers:
            _verify_v3(request, secret, now)
            return
        signature = require_header(request, LEGACY_HEADER).lower()
        version = header(request, VERSION_HEADER)
        if version == "v1":
            source = secret + request.body
        elif version == "v2":
            source = secret + request.method.upper().encode("utf-8") + request.url.encode("utf-8") + request.body
        else:
            raise Refused("X-HubSpot-Signature-Version must be v1 or v2")
        if not same_signature(hashlib.sha256(source).hexdigest(), signature):
            raise Refused(f"{version} signature does not match")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Every event of the batch into records; events we do not use are skipped, never fatal."""
        payload = load_json(request.body)
        if not isinstance(payload, list):
            raise BadPayload("HubSpot sends a JSON array of events")
        events = [event for event in payload if isinstance(event, dict)]
        keys = sorted(_event_key(event) for event in events)
        delivery_id = "hubspot:" + hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest() if keys else None
        records: list[Record] = []
        unused: list[str] = []
        for event in events:
            record = _record(event)
            if record is None:
                unused.append(as_text(event.get("subscriptionType")) or "unknown")
            else:
                records.append(record)
        unused.extend("not an object" for event in payload if not isinstance(event, dict))
        note = None
        if not records:
            note = f"events not used: {', '.join(sorted(set(unused)))}" if unused else "empty batch"
        return Delivery(delivery_id, records, note=note)

    def reply(self, delivery: Delivery) -> Reply:
        """HubSpot only needs a fast 2xx."""
        return Reply(200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """401 drops a forged request; 400 (not retried either) only for a body that is not an event array."""
        return Reply(401 if isinstance(error, Refused) else 400)

    def probe(self, request: WebhookRequest) -> Reply | None:
        """HubSpot sends no unsigned checks."""
        return None


def _verify_v3(request: WebhookRequest, secret: bytes, now: datetime) -> None:
    signature = require_header(request, V3_HEADER)
    timestamp = require_header(request, TIMESTAMP_HEADER)
    if not timestamp.isascii() or not timestamp.isdigit():
        raise Refused("X-HubSpot-Request-Timestamp must be epoch milliseconds")
    tail = request.body + timestamp.encode("ascii")
    method = request.method.upper().encode("utf-8")
    urls = {request.url, _V3_ENCODED.sub(lambda match: V3_DECODED[match.group(0).lower()], request.url)}
    for url in sorted(urls):
        mac = hmac.new(secret, method + url.encode("utf-8") + tail, hashlib.sha256)
        if same_signature(base64.b64encode(mac.digest()).decode("ascii"), signature):
            break
    else:
        raise Refused("v3 signature does not match")
    signed_at = from_epoch(timestamp, milliseconds=True)
    if signed_at is None or not within_tolerance(signed_at, now):
        raise Refused("X-HubSpot-Request-Timestamp is more than 5 minutes from now")


def _event_key(event: dict[str, Any]) -> str:
    """The composite key HubSpot events are deduplicated on."""
    fields = ("portalId", "subscriptionId", "eventId", "objectId", "occurredAt")
    return ":".join(as_text(event.get(field)) or "" for field in fields)


def _record(event: dict[str, Any]) -> Record | None:
    subscription = as_text(event.get("subscriptionType")) or ""
    kind, _, action = subscription.partition(".")
    if kind == "object":
        kind = OBJECT_TYPES.get(as_text(event.get("objectTypeId")) or "", "")
    object_id = as_text(event.get("objectId"))
    if object_id is None:
        return None
    if kind == "contact":
        return _contact_record(event, action, object_id)
    if kind == "ticket":
        return _ticket_record(event, action, object_id)
    if kind == "feedback_submission" and action == "creation":
        return FeedbackRecord(
            channel="survey",
            source=SOURCE,
            external_id=f"hubspot:feedback_submission:{object_id}",
            customer=None,
            occurred_at=_occurred_at(event),
            metadata=_ids(event),
        )
    return None


def _contact_record(event: dict[str, Any], action: str, object_id: str) -> CustomerRecord | None:
    if action == "creation":
        return CustomerRecord(CustomerRef(keys=(("hubspot:contact", object_id),)))
    if action == "merge":
        ids = [event.get("primaryObjectId"), event.get("newObjectId"), *as_list(event.get("mergedObjectIds"))]
        merged = customer_ref([("hubspot:contact", object_id)] + [("hubspot:contact", value) for value in ids])
        return CustomerRecord(merged) if merged is not None else None
    if action != "propertyChange":
        return None
    name = as_text(event.get("propertyName"))
    value = event.get("propertyValue")
    if name == "email":
        identity = customer_ref([("hubspot:contact", object_id)], email=value)
        return CustomerRecord(identity) if identity is not None and len(identity.keys) > 1 else None
    if name in ("phone", "mobilephone"):
        identity = customer_ref([("hubspot:contact", object_id)], phone=value)
        return CustomerRecord(identity) if identity is not None and len(identity.keys) > 1 else None
    attribute = CONTACT_ATTRIBUTES.get(name or "")
    if attribute is None:
        return None
    text = as_text(value)
    if attribute == "value" and text is not None:
        number = as_number(text)
        if number is None:
            return None
        converted: Any = int(number) if number.is_integer() else number
    else:
        converted = text
    return CustomerRecord(CustomerRef(keys=(("hubspot:contact", object_id),)), {attribute: converted})


def _ticket_record(event: dict[str, Any], action: str, object_id: str) -> InteractionRecord | None:
    if action == "creation":
        name = "ticket_opened"
        properties: dict[str, Any] = {"ticket_id": object_id}
    elif action == "propertyChange" and event.get("propertyName") == "hs_pipeline_stage":
        name = "ticket_status_changed"
        properties = {"ticket_id": object_id, "pipeline_stage": as_text(event.get("propertyValue"))}
    else:
        return None
    properties.update(_ids(event))
    return InteractionRecord(
        name=name,
        source=SOURCE,
        external_id=f"hubspot:event:{_event_key(event)}",
        # Ticket events carry only the ticket's id: the customer is known once the ticket is fetched.
        customer=CustomerRef(keys=()),
        occurred_at=_occurred_at(event),
        channel="ticket",
        properties=properties,
    )


def _occurred_at(event: dict[str, Any]) -> datetime | None:
    return from_epoch(event.get("occurredAt"), milliseconds=True)


def _ids(event: dict[str, Any]) -> dict[str, Any]:
    fields = {
        "portal_id": "portalId",
        "subscription_id": "subscriptionId",
        "event_id": "eventId",
        "object_id": "objectId",
        "object_type_id": "objectTypeId",
        "subscription_type": "subscriptionType",
        "change_source": "changeSource",
        "source_id": "sourceId",
    }
    ids = {name: as_text(event.get(field)) for name, field in fields.items()}
    return {name: value for name, value in ids.items() if value is not None}


ADAPTER = HubSpotAdapter()
