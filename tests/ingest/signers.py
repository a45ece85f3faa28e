"""Sign test requests exactly as each source does (recipes from the webhook source notes), with explicit clocks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64 HMAC-SHA256 over the timestamp header value followed by the raw body."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("utf-8") + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def zendesk_headers(secret: str, body: bytes, timestamp: str) -> dict[str, str]:
    """The headers a Zendesk webhook sends, lower-cased."""
    return {
        "content-type": "application/json",
        "user-agent": "Zendesk Webhook",
        "x-zendesk-webhook-id": "01JPB0TESTWEBHOOK000000000",
        "x-zendesk-webhook-signature-timestamp": timestamp,
        "x-zendesk-webhook-signature": zendesk_signature(secret, timestamp, body),
    }


def hubspot_v3(client_secret: str, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    """base64 HMAC-SHA256 over method + URI + body + millisecond timestamp."""
    source = method.upper() + uri + body.decode("utf-8") + timestamp_ms
    return base64.b64encode(hmac.new(client_secret.encode(), source.encode("utf-8"), hashlib.sha256).digest()).decode()


def hubspot_v1(client_secret: str, body: bytes) -> str:
    """hex SHA-256 (not HMAC) of the client secret followed by the body."""
    return hashlib.sha256((client_secret + body.decode("utf-8")).encode("utf-8")).hexdigest()


def hubspot_v2(client_secret: str, method: str, uri: str, body: bytes = b"") -> str:
    """hex SHA-256 (not HMAC) of the client secret, method, URI and body."""
    return hashlib.sha256((client_secret + method.upper() + uri + body.decode("utf-8")).encode("utf-8")).hexdigest()


def hubspot_headers(client_secret: str, uri: str, body: bytes, timestamp_ms: str) -> dict[str, str]:
    """The headers a HubSpot webhook batch carries: v3 plus the legacy v1 signature, lower-cased."""
    return {
        "content-type": "application/json",
        "x-hubspot-request-timestamp": timestamp_ms,
        "x-hubspot-signature-v3": hubspot_v3(client_secret, "POST", uri, body, timestamp_ms),
        "x-hubspot-signature-version": "v1",
        "x-hubspot-signature": hubspot_v1(client_secret, body),
    }


def intercom_signature(client_secret: str, body: bytes) -> str:
    """`sha1=` + hex HMAC-SHA1 of the body."""
    return "sha1=" + hmac.new(client_secret.encode("utf-8"), body, hashlib.sha1).hexdigest()


def intercom_headers(client_secret: str, body: bytes) -> dict[str, str]:
    """The headers an Intercom notification carries, lower-cased."""
    return {
        "content-type": "application/json",
        "accept": "application/json",
        "user-agent": "intercom-parrot-service-client/1.0",
        "x-hub-signature": intercom_signature(client_secret, body),
    }


def typeform_signature(secret: str, body: bytes) -> str:
    """`sha256=` + base64 HMAC-SHA256 of the body."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode("ascii")


def typeform_headers(secret: str, body: bytes) -> dict[str, str]:
    """The headers a Typeform webhook carries, lower-cased."""
    return {
        "content-type": "application/json",
        "user-agent": "Typeform Webhooks",
        "typeform-signature": typeform_signature(secret, body),
    }


def surveymonkey_signature(api_key: str, api_secret: str, body: bytes) -> str:
    """base64 HMAC-SHA1 of the body keyed `api_key&api_secret`."""
    key = f"{api_key}&{api_secret}".encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha1).digest()).decode("ascii")


def surveymonkey_headers(api_key: str, api_secret: str, body: bytes) -> dict[str, str]:
    """The headers a SurveyMonkey webhook carries, lower-cased."""
    return {
        "content-type": "application/vnd.surveymonkey.response.v1+json",
        "sm-apikey": api_key,
        "sm-signature": surveymonkey_signature(api_key, api_secret, body),
    }


def freshdesk_headers(username: str, password: str, shared_token: str | None = None) -> dict[str, str]:
    """The headers of a Freshdesk "Trigger Webhook" call with Basic auth (and the optional token header)."""
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    headers = {"content-type": "application/json", "authorization": f"Basic {credentials}"}
    if shared_token:
        headers["x-cxm-token"] = shared_token
    return headers


def salesforce_outbound_message(
    org_id: str, action_id: str, sobject_type: str, notifications: list[tuple[str, dict[str, str]]]
) -> bytes:
    """A SOAP 1.1 Outbound Message: notifications are (notification id, sObject fields) pairs."""
    parts = []
    for notification_id, fields in notifications:
        body = "".join(f"<sf:{name}>{escape(str(value))}</sf:{name}>" for name, value in fields.items())
        parts.append(
            f'<Notification><Id>{notification_id}</Id><sObject xsi:type="sf:{sobject_type}" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{body}</sObject></Notification>'
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f'<OrganizationId>{org_id}</OrganizationId><ActionId>{action_id}</ActionId><SessionId xsi:nil="true"/>'
        "<EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/61.0/x</EnterpriseUrl>"
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/61.0/x</PartnerUrl>"
        + "".join(parts)
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    )
    return xml.encode("utf-8")


SALESFORCE_HEADERS = {
    "content-type": "text/xml; charset=utf-8",
    "soapaction": '""',
    "user-agent": "Salesforce - Outbound Notification",
}

DELIGHTED_HEADERS = {"content-type": "application/json"}


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]] | None = None) -> str:
    """base64 HMAC-SHA1 over the URL followed by each parameter's name and value, sorted by name."""
    data = url + "".join(name + value for name, value in sorted(params or [], key=lambda item: item[0]))
    return base64.b64encode(hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()).decode()


def twilio_headers(auth_token: str, url: str, form_body: str) -> dict[str, str]:
    """The headers of Twilio's form-encoded webhook POST to url."""
    params = parse_qsl(form_body, keep_blank_values=True)
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(auth_token, url, params),
    }


def twilio_json_request(auth_token: str, url_without_hash: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The URL (with bodySHA256) and headers of a JSON-body Twilio webhook, which signs the URL only."""
    separator = "&" if "?" in url_without_hash else "?"
    url = url_without_hash + separator + urlencode({"bodySHA256": hashlib.sha256(body).hexdigest()})
    return url, {"content-type": "application/json", "x-twilio-signature": twilio_signature(auth_token, url)}


def standard_webhooks_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 over `id.timestamp.body`, keyed by the base64 part of a `whsec_` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def standard_webhooks_headers(secret: str, message_id: str, timestamp: str, body: bytes) -> dict[str, str]:
    """The headers of a Standard Webhooks delivery, lower-cased."""
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": standard_webhooks_signature(secret, message_id, timestamp, body),
    }
