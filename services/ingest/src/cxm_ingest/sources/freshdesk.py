"""Freshdesk: the automation rules' "Trigger Webhook" action, which Freshdesk does not sign.

Auth, any one of: HTTP Basic with the connection's generated `username`/`password` ("Requires authentication"),
Basic with the generated `token` as the API key (Freshdesk sends an API key as `<key>:X`), or the custom header
`X-CXM-Token: <token>`.

Body: JSON (the webhook's encoding must be JSON): Freshdesk's "Simple" content `{"freshdesk_webhook": {...}}`, or an
"Advanced" template with the same keys at the top level. Placeholders rendered unescaped are tolerated. Keys read:
`ticket_id` (required), `triggered_event`, `ticket_status`, `ticket_updated_at`, `ticket_created_at`,
`ticket_contact_id`/`ticket_requester_id`, `ticket_contact_email`/`ticket_requester_email`,
`ticket_contact_name`/`ticket_requester_name` (a requester id or email is required), `ticket_subject`,
`ticket_description` (HTML), `ticket_latest_public_comment`, `ticket_priority`, `ticket_source`, `ticket_type`,
`ticket_tags`, `ticket_group_name`, `ticket_agent_email`, `ticket_satisfaction_rating`,
`ticket_satisfaction_comment`.

Records:
- one interaction per call: `ticket_opened` when `triggered_event` says created, else `ticket_solved` for the
  Resolved and Closed statuses and `ticket_updated` for any other (the status is in the properties);
- feedback (channel `ticket`) from the description of a created ticket, from the latest public comment of an updated
  one (scope the rule to requester replies: the placeholder does not say who wrote it), and from a satisfaction
  rating, whose Freshdesk codes map to CSAT: 103 → 5, 102 and 101 → 4, 100 → 3, -101 and -102 → 2, -103 → 1 (so the
  2-, 3-, 5- and 7-point scales all keep their extremes on 1 and 5 and neutral on 3).

Dedupe: Freshdesk has no delivery id, so `<ticket_id>:<ticket_updated_at>` when the template sends the update time
(recommended), else `<ticket_id>:<sha256 of the body>`, which makes Freshdesk's retries of one call duplicates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any

from cxm_ingest.domain.records import CustomerRef, FeedbackRecord, InteractionRecord, Record, Scores
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    as_text,
    check_config,
    customer_ref,
    header,
    html_to_text,
    load_lenient_object,
    normalise_email,
    parse_iso,
    same_signature,
    score_in_range,
)

SOURCE = "freshdesk"
TOKEN_HEADER = "x-cxm-token"
DEFAULT_USERNAME = "freshdesk"
# Freshdesk's satisfaction rating codes (API `ratings` values) on CSAT 1–5.
RATING_TO_CSAT = {103: 5, 102: 4, 101: 4, 100: 3, -101: 2, -102: 2, -103: 1}
# Status names, or Freshdesk's numeric codes (4 Resolved, 5 Closed); a closed ticket was solved first.
SOLVED_STATUSES = {"resolved", "closed", "4", "5"}
_TICKET_ID = re.compile(r"^[0-9]{1,20}$")
_CREATED = re.compile(r"ticket_action\s*:\s*created", re.IGNORECASE)
_WRAPPED = re.compile(r'^\s*\{\s*"freshdesk_webhook"\s*:\s*(\{.*\})\s*\}\s*$', re.DOTALL)


class FreshdeskAdapter:
    """Freshdesk automation-rule webhooks, authenticated by generated Basic credentials or a token header."""

    name = SOURCE
    secret_fields: tuple[str, ...] = ("password", "token")
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the credentials, generating any that are missing."""
        prepared: dict[str, Any] = check_config(config, required=(), optional=("username", "password", "token"))
        prepared.setdefault("username", DEFAULT_USERNAME)
        prepared.setdefault("password", secrets.token_urlsafe(32))
        prepared.setdefault("token", secrets.token_urlsafe(32))
        if ":" in prepared["username"]:
            raise ConfigError("username must not contain ':' (it separates the Basic auth user and password)")
        return prepared

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Accept matching Basic credentials, the token as a Basic API key, or the token header."""
        username = str(config.get("username", ""))
        password = str(config.get("password", ""))
        token = str(config.get("token", ""))
        if not (username and password and token):
            raise ConfigError("the connection has no credentials")
        authorization = header(request, "authorization")
        given_token = header(request, TOKEN_HEADER)
        if authorization is None and given_token is None:
            raise Refused("missing credentials: expected Basic authorization or an X-CXM-Token header")
        if given_token is not None and same_signature(token, given_token):
            return
        if authorization is not None:
            user, given_password = _basic_credentials(authorization)
            user_ok = same_signature(username, user)
            password_ok = same_signature(password, given_password)
            if (user_ok and password_ok) or same_signature(token, user):
                return
        raise Refused("credentials do not match")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Read one ticket call into an interaction and any feedback it carries."""
        ticket = _ticket(request.body)
        ticket_id = as_text(ticket.get("ticket_id"))
        if ticket_id is None or not _TICKET_ID.match(ticket_id):
            raise BadPayload("ticket_id must be the numeric ticket id", status=422)
        customer = customer_ref(
            [(f"{SOURCE}:contact", _first(ticket, "ticket_contact_id", "ticket_requester_id"))],
            email=_first(ticket, "ticket_contact_email", "ticket_requester_email"),
            name=_first(ticket, "ticket_contact_name", "ticket_requester_name"),
        )
        if customer is None:
            raise BadPayload("no requester: send ticket_contact_id or ticket_contact_email", status=422)
        updated_at = as_text(ticket.get("ticket_updated_at"))
        if updated_at is not None:
            delivery_id = f"{ticket_id}:{updated_at}"
        else:
            delivery_id = f"{ticket_id}:{hashlib.sha256(request.body).hexdigest()}"
        created = _CREATED.search(as_text(ticket.get("triggered_event")) or "") is not None
        # Freshdesk sends no time of its own: the template's, else the call's arrival (retries can lag by 95 min).
        updated = parse_iso(updated_at) or request.received_at
        occurred_at = (parse_iso(ticket.get("ticket_created_at")) or updated) if created else updated
        context = _context(ticket, ticket_id)
        status = as_text(ticket.get("ticket_status"))

        records: list[Record] = [
            InteractionRecord(
                name="ticket_opened" if created else _interaction_name(status),
                source=SOURCE,
                external_id=f"{SOURCE}:ticket:{delivery_id}",
                customer=customer,
                occurred_at=occurred_at,
                channel="ticket",
                properties={**context, "status": status} if status else context,
            )
        ]
        feedback = _ticket_feedback(ticket, ticket_id, customer, context, created=created)
        if feedback is not None:
            records.append(replace(feedback, occurred_at=occurred_at))
        satisfaction = _satisfaction(ticket, ticket_id, customer, context)
        if satisfaction is not None:
            records.append(replace(satisfaction, occurred_at=updated))
        return Delivery(delivery_id=delivery_id, records=records)

    def reply(self, delivery: Delivery) -> Reply:
        """An empty 200."""
        return Reply(status=200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """The status with the reason as plain text (shown in Freshdesk's failure email)."""
        return Reply(status=error.status, body=error.reason.encode(), content_type="text/plain; charset=utf-8")

    def probe(self, request: WebhookRequest) -> Reply | None:
        """No unsigned checks."""
        return None


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise Refused("Authorization must use the Basic scheme")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError) as exc:
        raise Refused("Authorization is not valid Basic credentials") from exc
    user, separator, password = decoded.partition(":")
    if not separator:
        raise Refused("Authorization is not valid Basic credentials")
    return user, password


def _ticket(body: bytes) -> dict[str, Any]:
    # The lenient reader repairs flat objects only, so Simple content is unwrapped before reading.
    match = _WRAPPED.match(body.decode("utf-8", errors="replace"))
    data = load_lenient_object(match.group(1).encode() if match else body)
    if data is None:
        raise BadPayload("body is not a JSON object (set the webhook's encoding to JSON)")
    if "freshdesk_webhook" in data:
        wrapped = data["freshdesk_webhook"]
        if not isinstance(wrapped, dict):
            raise BadPayload("freshdesk_webhook must be an object")
        return wrapped
    return data


def _first(ticket: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = as_text(ticket.get(key))
        if value is not None:
            return value
    return None


def _interaction_name(status: str | None) -> str:
    return "ticket_solved" if (status or "").lower() in SOLVED_STATUSES else "ticket_updated"


def _context(ticket: dict[str, Any], ticket_id: str) -> dict[str, Any]:
    tags = [tag.strip() for tag in (as_text(ticket.get("ticket_tags")) or "").split(",") if tag.strip()]
    context: dict[str, Any] = {
        "ticket_id": ticket_id,
        "priority": as_text(ticket.get("ticket_priority")),
        "ticket_source": as_text(ticket.get("ticket_source")),
        "ticket_type": as_text(ticket.get("ticket_type")),
        "tags": tags,
        "team": as_text(ticket.get("ticket_group_name")),
        "agent": normalise_email(ticket.get("ticket_agent_email")),
    }
    return {key: value for key, value in context.items() if value not in (None, [])}


def _ticket_feedback(
    ticket: dict[str, Any], ticket_id: str, customer: CustomerRef, context: dict[str, Any], *, created: bool
) -> FeedbackRecord | None:
    if created:
        text = _plain(ticket.get("ticket_description"))
        external_id = f"{SOURCE}:ticket:{ticket_id}"
    else:
        text = _plain(ticket.get("ticket_latest_public_comment"))
        digest = hashlib.sha256((text or "").encode()).hexdigest()[:16]
        external_id = f"{SOURCE}:ticket:{ticket_id}:comment:{digest}"
    if text is None:
        return None
    subject = as_text(ticket.get("ticket_subject"))
    metadata = {**context, "subject": subject} if subject else dict(context)
    return FeedbackRecord(
        channel="ticket", source=SOURCE, external_id=external_id, customer=customer, text=text, metadata=metadata
    )


def _satisfaction(
    ticket: dict[str, Any], ticket_id: str, customer: CustomerRef, context: dict[str, Any]
) -> FeedbackRecord | None:
    rating = ticket.get("ticket_satisfaction_rating")
    # An empty placeholder renders as "": no rating.
    rated = rating is not None and not (isinstance(rating, str) and not rating.strip())
    comment = _plain(ticket.get("ticket_satisfaction_comment"))
    if not rated and comment is None:
        return None
    metadata = dict(context)
    csat = None
    if rated:
        code = score_in_range(rating, -103, 103)
        csat = RATING_TO_CSAT.get(code) if code is not None else None
        if csat is None:
            raise BadPayload("ticket_satisfaction_rating must be a Freshdesk rating code (103 … -103)", status=422)
        metadata["freshdesk_rating"] = code
    return FeedbackRecord(
        channel="ticket",
        source=SOURCE,
        external_id=f"{SOURCE}:ticket:{ticket_id}:satisfaction",
        customer=customer,
        text=comment,
        scores=Scores(csat=csat),
        metadata=metadata,
    )


def _plain(value: Any) -> str | None:
    text = as_text(value)
    if text is None or not isinstance(value, str):
        return None
    return html_to_text(text) or None


ADAPTER = FreshdeskAdapter()
