"""Twilio inbound messages (SMS, and WhatsApp through the same webhook), signed with `X-Twilio-Signature`.

Signature: base64(HMAC-SHA1(auth_token, url + every POST parameter's name + value, sorted by name)), where url is
the public URL Twilio called, query string included. As Twilio's SDKs do, the URL is also tried with its explicit
port removed and with the scheme's default port added, since Twilio may sign either. For JSON-body webhooks Twilio
puts `bodySHA256=<hex sha256(body)>` in the query string and signs the URL alone; the body must match that hash.
A bad signature answers 403 as in Twilio's own examples (Basic-style 401 challenges mean nothing to Twilio, and by
default it retries only connection failures, so the status only shows in its debugger).

Records: each message is one feedback record (channel `sms`, `chat` for WhatsApp) with the Body as text and the
sender's number as the `phone` key. A Body that is only a whole number 0–10 is taken as the answer to an NPS
question (the usual SMS survey pattern) and scored as NPS, keeping the text too. A message with no text and no media
is acknowledged with a note. Dedupe: the `I-Twilio-Idempotency-Token` header when present, else `MessageSid`.
Reply: 200 with an empty TwiML `<Response>`, so Twilio sends no auto-reply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import as_text, check_config, customer_ref, header, load_json, same_signature

SOURCE = "twilio"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
DEFAULT_PORTS = {"https": 443, "http": 80}
METADATA_PARAMS = {
    "To": "to",
    "FromCountry": "from_country",
    "NumMedia": "num_media",
    "NumSegments": "num_segments",
    "MessagingServiceSid": "messaging_service_sid",
    "AccountSid": "account_sid",
}
_NPS_ANSWER = re.compile(r"^(10|[0-9])$")


def signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's request signature: base64 HMAC-SHA1 over the URL and the parameters sorted by name."""
    # A stable sort keeps the order of a repeated parameter's values.
    data = url + "".join(name + value for name, value in sorted(params, key=lambda item: item[0]))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


class TwilioAdapter:
    """Twilio messaging webhooks, verified with the account's auth token."""

    name = SOURCE
    secret_fields: tuple[str, ...] = ("auth_token",)
    uses_path_token = False
    media_types = ("application/x-www-form-urlencoded", *JSON_MEDIA_TYPES)

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require the account's auth token."""
        return dict(check_config(config, required=("auth_token",)))

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check X-Twilio-Signature over the public URL and the form parameters (or the bodySHA256 hash)."""
        auth_token = str(config.get("auth_token", ""))
        if not auth_token:
            raise ConfigError("the connection has no auth_token")
        given = header(request, "x-twilio-signature")
        if given is None:
            raise Refused("missing X-Twilio-Signature header", status=403)
        body_hash = _query(request.url).get("bodySHA256")
        if body_hash is not None:
            if not same_signature(hashlib.sha256(request.body).hexdigest(), body_hash):
                raise Refused("body does not match bodySHA256", status=403)
            params: list[tuple[str, str]] = []
        elif request.method.upper() == "POST":
            params = _form(request.body, refuse=True)
        else:
            params = []
        matched = False
        for url in _url_variants(request.url):
            if same_signature(signature(auth_token, url, params), given):
                matched = True
        if not matched:
            raise Refused("X-Twilio-Signature does not match", status=403)

    def parse(self, request: WebhookRequest) -> Delivery:
        """Read one inbound message into a feedback record."""
        params = _params(request)
        message_sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid")
        sender = params.get("From")
        if not message_sid:
            raise BadPayload("MessageSid is missing", status=422)
        if not sender:
            raise BadPayload("From is missing", status=422)
        delivery_id = header(request, "i-twilio-idempotency-token") or message_sid
        text = params.get("Body", "").strip() or None
        num_media = params.get("NumMedia", "0").strip()
        if text is None and num_media in ("", "0"):
            return Delivery(delivery_id=delivery_id, note="message without text or media")
        channel = "sms"
        if sender.startswith("whatsapp:"):
            channel, sender = "chat", sender.removeprefix("whatsapp:")
        nps = int(text) if text is not None and _NPS_ANSWER.match(text) else None
        metadata: dict[str, Any] = {
            key: params[name].strip() for name, key in METADATA_PARAMS.items() if params.get(name, "").strip()
        }
        if channel == "chat":
            metadata["messaging"] = "whatsapp"
        record = FeedbackRecord(
            channel=channel,
            source=SOURCE,
            external_id=f"{SOURCE}:{message_sid}",
            customer=customer_ref([], phone=sender),
            text=text,
            scores=Scores(nps=nps),
            occurred_at=request.received_at,
            metadata=metadata,
        )
        return Delivery(delivery_id=delivery_id, records=[record])

    def reply(self, delivery: Delivery) -> Reply:
        """200 with empty TwiML: no reply message."""
        return Reply(status=200, body=EMPTY_TWIML, content_type="text/xml")

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """The 4xx status with the reason as plain text (visible in Twilio's debugger)."""
        return Reply(status=error.status, body=error.reason.encode(), content_type="text/plain; charset=utf-8")

    def probe(self, request: WebhookRequest) -> Reply | None:
        """No unsigned checks."""
        return None


def _query(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    return {name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()}


def _form(body: bytes, *, refuse: bool) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if refuse:
            raise Refused("body is not UTF-8 form data", status=403) from exc
        raise BadPayload("body is not UTF-8 form data") from exc
    return parse_qsl(text, keep_blank_values=True)


def _url_variants(url: str) -> list[str]:
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rpartition(":")[0])))
    elif parts.scheme in DEFAULT_PORTS and parts.netloc:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{DEFAULT_PORTS[parts.scheme]}")))
    return variants


def _params(request: WebhookRequest) -> dict[str, str]:
    content_type = (request.headers.get("content-type") or "").lower()
    if "bodySHA256" in _query(request.url) or content_type.startswith("application/json"):
        body = load_json(request.body)
        if not isinstance(body, dict):
            raise BadPayload("a JSON body must be an object")
        return {str(name): text for name, value in body.items() if (text := as_text(value)) is not None}
    is_post = request.method.upper() == "POST"
    pairs = _form(request.body, refuse=False) if is_post else list(_query(request.url).items())
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


ADAPTER = TwilioAdapter()
