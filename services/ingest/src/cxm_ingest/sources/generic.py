"""Generic webhooks: CXM's own record shapes, signed the Standard Webhooks way (standardwebhooks.com).

Signature: headers `webhook-id`, `webhook-timestamp` (epoch seconds, within ±300 s of our clock) and
`webhook-signature`, a space-separated list of `v1,<base64>` entries of which any one may match. Each is
base64(HMAC-SHA256(key, f"{id}.{timestamp}." + body)), the key being the base64-decoded part of the
connection's `whsec_…` secret. The delivery id is `webhook-id`.

Body: one event, or a JSON array of up to 1,000 events, each `{"type": ..., "data": {...}}`:
- `feedback`: the public feedback API's shape, `{channel, source?, external_id?, customer: {id, email?, name?,
  phone?}, text?, scores?: {nps?, csat?, ces?}, touchpoint?, occurred_at?, metadata?}`; text or a score is required.
- `interaction`: `{customer_id, name, channel?, occurred_at, properties?}`.
- `customer`: `{customer_id, email?, name?, phone?, attributes?}`.
Customer keys: `crm` for the tenant's own customer id (as in the public API), plus `email` and `phone` when given.
Validation is strict (unknown fields, wrong types, scores off their scale: NPS 0–10, CSAT 1–5, CES 1–7, times
without a timezone) and answers 422 with the path of the first problem. Refusals are RFC 9457 problem details.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from cxm_ingest.domain.records import CHANNELS, CustomerRecord, CustomerRef, FeedbackRecord, InteractionRecord, Scores
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    check_config,
    customer_ref,
    from_epoch,
    load_json,
    normalise_email,
    require_header,
    same_signature,
    within_tolerance,
)

SECRET_PREFIX = "whsec_"
MAX_EVENTS = 1000
# The key kind of the tenant's own customer id, as in the public API's `customer.id` / `customer_id`.
CUSTOMER_ID_KIND = "crm"
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
FEEDBACK_FIELDS = frozenset(
    {"channel", "source", "external_id", "customer", "text", "scores", "touchpoint", "occurred_at", "metadata"}
)
FEEDBACK_CUSTOMER_FIELDS = frozenset({"id", "email", "name", "phone"})
INTERACTION_FIELDS = frozenset({"customer_id", "name", "channel", "occurred_at", "properties"})
CUSTOMER_FIELDS = frozenset({"customer_id", "email", "name", "phone", "attributes"})
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")


def generate_secret() -> str:
    """A fresh Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; ConfigError when it is malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ConfigError(f"secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("secret must be 'whsec_' followed by base64") from exc
    if not 24 <= len(key) <= 64:
        raise ConfigError("secret must decode to 24 to 64 bytes")
    return key


class _Invalid(Exception):
    """A validation failure at a path inside the body."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.message = f"{path}: {problem}"


class GenericAdapter:
    """Standard Webhooks signed JSON events in CXM's own shapes."""

    name = "generic"
    secret_fields: tuple[str, ...] = ("secret",)
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the `whsec_` secret, generating one when absent."""
        prepared = check_config(config, required=(), optional=("secret",))
        prepared.setdefault("secret", generate_secret())
        signing_key(prepared["secret"])
        return prepared

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check the Standard Webhooks signature and that the signed timestamp is within ±300 s."""
        key = signing_key(str(config.get("secret", "")))
        message_id = require_header(request, "webhook-id")
        timestamp = require_header(request, "webhook-timestamp")
        signatures = require_header(request, "webhook-signature")
        if not _TIMESTAMP.match(timestamp):
            raise Refused("webhook-timestamp must be whole epoch seconds")
        signed_at = from_epoch(int(timestamp))
        if signed_at is None or not within_tolerance(signed_at, now):
            raise Refused("webhook-timestamp is outside the 300 s tolerance")
        signed = f"{message_id}.{timestamp}.".encode() + request.body
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        matched = False
        for entry in signatures.split():
            version, _, signature = entry.partition(",")
            # Every entry is compared, so the time taken does not tell which one matched.
            if version == "v1" and same_signature(expected, signature):
                matched = True
        if not matched:
            raise Refused("no webhook-signature entry matches")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Read one event or an array of events into records."""
        body = load_json(request.body)
        delivery_id = request.headers.get("webhook-id")
        events = body if isinstance(body, list) else [body]
        if len(events) > MAX_EVENTS:
            raise BadPayload(f"at most {MAX_EVENTS} events per request, got {len(events)}", status=422)
        if not events:
            return Delivery(delivery_id=delivery_id, note="empty event list")
        records: list[FeedbackRecord | InteractionRecord | CustomerRecord] = []
        for index, event in enumerate(events):
            path = f"$[{index}]" if isinstance(body, list) else "$"
            try:
                records.append(_event(event, path))
            except _Invalid as exc:
                raise BadPayload(exc.message, status=422) from exc
        return Delivery(delivery_id=delivery_id, records=records)

    def reply(self, delivery: Delivery) -> Reply:
        """An empty 200."""
        return Reply(status=200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """Problem details, since this source is our own API's shape."""
        problem = {"type": "about:blank", "title": _title(error.status), "status": error.status, "detail": error.reason}
        return Reply(status=error.status, body=json.dumps(problem).encode(), content_type="application/problem+json")

    def probe(self, request: WebhookRequest) -> Reply | None:
        """No unsigned checks."""
        return None


def _title(status: int) -> str:
    return {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 422: "Unprocessable Content"}.get(
        status, "Error"
    )


def _event(event: Any, path: str) -> FeedbackRecord | InteractionRecord | CustomerRecord:
    data = _object(event, path)
    _only(data, frozenset({"type", "data"}), path)
    kind = data.get("type")
    payload = _object(data.get("data"), f"{path}.data")
    if kind == "feedback":
        return _feedback(payload, f"{path}.data")
    if kind == "interaction":
        return _interaction(payload, f"{path}.data")
    if kind == "customer":
        return _customer(payload, f"{path}.data")
    raise _Invalid(f"{path}.type", "must be 'feedback', 'interaction' or 'customer'")


def _feedback(data: dict[str, Any], path: str) -> FeedbackRecord:
    _only(data, FEEDBACK_FIELDS, path)
    channel = _required_channel(data.get("channel"), f"{path}.channel")
    customer_data = _object(data.get("customer"), f"{path}.customer")
    _only(customer_data, FEEDBACK_CUSTOMER_FIELDS, f"{path}.customer")
    customer = _customer_ref(
        _required_text(customer_data, "id", f"{path}.customer"),
        f"{path}.customer",
        email=_email(customer_data, f"{path}.customer"),
        name=_text(customer_data, "name", f"{path}.customer"),
        phone=_text(customer_data, "phone", f"{path}.customer"),
    )
    text = _text(data, "text", path)
    scores = _scores(data.get("scores"), f"{path}.scores")
    if text is None and scores == Scores():
        raise _Invalid(path, "feedback needs text or at least one score")
    return FeedbackRecord(
        channel=channel,
        source=_text(data, "source", path) or "generic",
        external_id=_text(data, "external_id", path),
        customer=customer,
        text=text,
        scores=scores,
        touchpoint=_text(data, "touchpoint", path),
        occurred_at=_time(data.get("occurred_at"), f"{path}.occurred_at", required=False),
        metadata=_json_object(data.get("metadata"), f"{path}.metadata"),
    )


def _interaction(data: dict[str, Any], path: str) -> InteractionRecord:
    _only(data, INTERACTION_FIELDS, path)
    customer = _customer_ref(_required_text(data, "customer_id", path), path)
    return InteractionRecord(
        name=_required_text(data, "name", path),
        source="generic",
        external_id=None,
        customer=customer,
        occurred_at=_time(data.get("occurred_at"), f"{path}.occurred_at", required=True),
        channel=_channel(data.get("channel"), f"{path}.channel"),
        properties=_json_object(data.get("properties"), f"{path}.properties"),
    )


def _customer(data: dict[str, Any], path: str) -> CustomerRecord:
    _only(data, CUSTOMER_FIELDS, path)
    customer = _customer_ref(
        _required_text(data, "customer_id", path),
        path,
        email=_email(data, path),
        name=_text(data, "name", path),
        phone=_text(data, "phone", path),
    )
    return CustomerRecord(customer=customer, attributes=_json_object(data.get("attributes"), f"{path}.attributes"))


def _customer_ref(
    customer_id: str, path: str, *, email: str | None = None, name: str | None = None, phone: str | None = None
) -> CustomerRef:
    ref = customer_ref([(CUSTOMER_ID_KIND, customer_id)], email=email, name=name, phone=phone)
    if ref is None:
        raise _Invalid(path, "needs a customer id")
    return ref


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Invalid(path, "must be an object")
    return value


def _only(data: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    unknown = sorted(key for key in data if key not in allowed)
    if unknown:
        raise _Invalid(path, f"unknown field(s): {', '.join(unknown)}")


def _text(data: dict[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{path}.{key}", "must be a string")
    return value.strip() or None


def _required_text(data: dict[str, Any], key: str, path: str) -> str:
    if data.get(key) is None:
        raise _Invalid(f"{path}.{key}", "is required")
    value = _text(data, key, path)
    if value is None:
        raise _Invalid(f"{path}.{key}", "must not be empty")
    return value


def _email(data: dict[str, Any], path: str) -> str | None:
    value = _text(data, "email", path)
    if value is not None and normalise_email(value) is None:
        raise _Invalid(f"{path}.email", "must be an email address")
    return value


def _channel(value: Any, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or value not in CHANNELS:
        raise _Invalid(path, f"must be one of {', '.join(CHANNELS)}")
    return value


def _required_channel(value: Any, path: str) -> str:
    channel = _channel(value, path)
    if channel is None:
        raise _Invalid(path, "is required")
    return channel


def _scores(value: Any, path: str) -> Scores:
    if value is None:
        return Scores()
    data = _object(value, path)
    _only(data, frozenset(SCORE_RANGES), path)
    found: dict[str, int] = {}
    for name, (low, high) in SCORE_RANGES.items():
        score = data.get(name)
        if score is None:
            continue
        if isinstance(score, bool) or not isinstance(score, int) or not low <= score <= high:
            raise _Invalid(f"{path}.{name}", f"must be an integer from {low} to {high}")
        found[name] = score
    return Scores(**found)


def _time(value: Any, path: str, *, required: bool) -> datetime | None:
    if value is None:
        if required:
            raise _Invalid(path, "is required")
        return None
    if not isinstance(value, str):
        raise _Invalid(path, "must be an ISO-8601 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise _Invalid(path, "must be an ISO-8601 date-time") from exc
    if parsed.tzinfo is None:
        raise _Invalid(path, "must include a timezone offset")
    return parsed.astimezone(UTC)


def _json_object(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    data = _object(value, path)
    # Iterative walk: bodies may nest as deep as the JSON parser allows.
    pending: list[Any] = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _Invalid(path, "numbers must be finite")
    return data


ADAPTER = GenericAdapter()
