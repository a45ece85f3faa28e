"""Each tool's native webhook request for one piece of feedback, signed the way that tool signs it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cxm_cli.demo.generator import Customer, Feedback

# The config each connection is created with: the secret the vendor would show, chosen by the demo.
SECRET_FIELDS = {
    "typeform": "secret",
    "zendesk": "signing_secret",
    "intercom": "client_secret",
    "twilio": "auth_token",
    "delighted": None,  # no signature: a generated token in the URL
}
CONNECTION_NAMES = {
    "typeform": "Onboarding survey (Typeform)",
    "zendesk": "Support satisfaction (Zendesk)",
    "intercom": "Chat ratings (Intercom)",
    "twilio": "NPS by SMS (Twilio)",
    "delighted": "Relationship NPS (Delighted)",
}


@dataclass(frozen=True)
class Connection:
    """A connection the demo created: where to post and the secret to sign with."""

    source: str
    id: str
    webhook_url: str
    secret: str | None


@dataclass(frozen=True)
class Request:
    """A ready-to-send webhook request."""

    url: str
    headers: dict[str, str]
    body: bytes


def build(connection: Connection, feedback: Feedback, customer: Customer, *, now: datetime) -> Request:
    """The request `connection.source` would send for this feedback."""
    builder = {
        "typeform": _typeform,
        "zendesk": _zendesk,
        "intercom": _intercom,
        "delighted": _delighted,
        "twilio": _twilio,
    }[connection.source]
    return builder(connection, feedback, customer, now)


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _typeform(conn: Connection, f: Feedback, c: Customer, now: datetime) -> Request:
    fields = [
        {"id": "nps01", "ref": "nps_recommend", "type": "nps", "title": "How likely are you to recommend us?"},
        {"id": "csat01", "ref": "csat_setup", "type": "rating", "title": "How satisfied are you with the setup?",
         "properties": {"steps": 5}},
        {"id": "ces01", "ref": "ease_setup", "type": "opinion_scale", "title": "How easy was it to get started?",
         "properties": {"steps": 7, "start_at_one": True}},
        {"id": "text01", "ref": "what_to_improve", "type": "long_text", "title": "Tell us more"},
    ]  # fmt: skip
    answers: list[dict[str, Any]] = []
    for field, value in ((fields[0], f.nps), (fields[1], f.csat), (fields[2], f.ces)):
        if value is not None:
            answers.append({"type": "number", "number": value, "field": {"id": field["id"], "type": field["type"]}})
    if f.text:
        answers.append({"type": "text", "text": f.text, "field": {"id": "text01", "type": "long_text"}})
    hidden = {"customer_id": c.key, "touchpoint": f.touchpoint or "onboarding"}
    payload = {
        "event_id": f.ref,
        "event_type": "form_response",
        "form_response": {
            "form_id": "DemoOnb1",
            "token": f.ref,
            "landed_at": f.at.isoformat().replace("+00:00", "Z"),
            "submitted_at": f.at.isoformat().replace("+00:00", "Z"),
            "hidden": hidden,
            "definition": {"id": "DemoOnb1", "title": "How was getting started?", "fields": fields},
            "answers": answers,
        },
    }
    body = _json(payload)
    digest = hmac.new((conn.secret or "").encode(), body, hashlib.sha256).digest()
    headers = {
        "content-type": "application/json",
        "user-agent": "Typeform Webhooks",
        "typeform-signature": "sha256=" + base64.b64encode(digest).decode("ascii"),
    }
    return Request(conn.webhook_url, headers, body)


def _zendesk(conn: Connection, f: Feedback, c: Customer, now: datetime) -> Request:
    ticket = f.ref.rsplit("f", 1)[-1].lstrip("0") or "0"
    payload = {
        "source": "zendesk_trigger",
        "event": "satisfaction_rating_changed",
        "ticket_id": ticket,
        "ticket_updated_at": f.at.isoformat().replace("+00:00", "Z"),
        "requester_id": f"zd{c.key.rsplit('c', 1)[-1]}",
        "requester_email": c.email,
        "assignee_email": f"agent.{c.team.split()[-1].lower()}@example.com",
        "satisfaction_rating": "Good" if (f.csat or 0) >= 4 else "Bad",
        "satisfaction_comment": f.text or "",
    }
    body = _json(payload)
    timestamp = now.isoformat().replace("+00:00", "Z")
    mac = hmac.new((conn.secret or "").encode(), timestamp.encode() + body, hashlib.sha256).digest()
    headers = {
        "content-type": "application/json",
        "user-agent": "Zendesk Webhook",
        "x-zendesk-webhook-id": "01DEMOWEBHOOK0000000000000",
        "x-zendesk-webhook-invocation-id": f.ref,
        "x-zendesk-webhook-signature-timestamp": timestamp,
        "x-zendesk-webhook-signature": base64.b64encode(mac).decode("ascii"),
    }
    return Request(conn.webhook_url, headers, body)


def _intercom(conn: Connection, f: Feedback, c: Customer, now: datetime) -> Request:
    contact_id = "ic" + hashlib.sha1(c.key.encode()).hexdigest()[:20]
    contact = {"type": "contact", "id": contact_id, "external_id": c.key}
    at = int(f.at.timestamp())
    payload = {
        "type": "notification_event",
        "app_id": "demo0app",
        "id": f"notif_{f.ref}",
        "topic": "conversation.rating.added",
        "created_at": at,
        "data": {
            "type": "notification_event_data",
            "item": {
                "type": "conversation",
                "id": f.ref,
                "created_at": at - 1800,
                "updated_at": at,
                "state": "closed",
                "source": {"type": "conversation", "author": {"type": "user", "id": contact_id, "name": c.name}},
                "contacts": {"type": "contact.list", "contacts": [contact]},
                "conversation_rating": {
                    "rating": f.csat,
                    "remark": f.text,
                    "created_at": at,
                    "contact": contact,
                    "teammate": {"type": "admin", "id": "7000001"},
                },
            },
        },
    }
    body = _json(payload)
    signature = hmac.new((conn.secret or "").encode(), body, hashlib.sha1).hexdigest()
    headers = {
        "content-type": "application/json",
        "user-agent": "intercom-parrot-service-client/1.0",
        "x-hub-signature": "sha1=" + signature,
    }
    return Request(conn.webhook_url, headers, body)


def _delighted(conn: Connection, f: Feedback, c: Customer, now: datetime) -> Request:
    at = int(f.at.timestamp())
    payload = {
        "event_type": "survey_response.updated",
        "event_id": f.ref,
        "event_data": {
            "id": f.ref,
            "person": {"id": f"dl{c.key.rsplit('c', 1)[-1]}", "email": c.email, "name": c.name},
            "survey_type": "nps",
            "score": f.nps,
            "comment": f.text,
            "created_at": at,
            "updated_at": at,
            "person_properties": {"Customer ID": c.key, "Plan": c.plan},
            "tags": [],
        },
    }
    return Request(conn.webhook_url, {"content-type": "application/json"}, _json(payload))


def _twilio(conn: Connection, f: Feedback, c: Customer, now: datetime) -> Request:
    sid = "SM" + hashlib.sha1(f.ref.encode()).hexdigest()[:32]
    params = [
        ("AccountSid", "AC" + "0" * 32), ("ApiVersion", "2010-04-01"), ("Body", f.text or str(f.nps)),
        ("From", c.phone), ("MessageSid", sid), ("NumMedia", "0"), ("NumSegments", "1"), ("SmsMessageSid", sid),
        ("SmsSid", sid), ("SmsStatus", "received"), ("To", "+15550000000"),
    ]  # fmt: skip
    form = urlencode(params)
    return Request(conn.webhook_url, twilio_headers(conn.secret or "", conn.webhook_url, form), form.encode())


def twilio_headers(auth_token: str, url: str, form: str) -> dict[str, str]:
    """Twilio's signature: base64 HMAC-SHA1 over the URL and every parameter's name and value, sorted by name."""
    params = sorted(parse_qsl(form, keep_blank_values=True), key=lambda p: p[0])
    data = url + "".join(name + value for name, value in params)
    mac = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1).digest()
    return {"content-type": "application/x-www-form-urlencoded", "x-twilio-signature": base64.b64encode(mac).decode()}
