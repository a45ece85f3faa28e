"""Salesforce Outbound Messages: SOAP 1.1 `notifications` sent by a workflow or flow "Outbound Message" action.

Salesforce signs nothing. A generated token in the URL path authenticates the call, and the message's
`OrganizationId` must be the connection's `organization_id`. The check compares the first 15 characters,
case-sensitively, because an 18-character id is the 15-character one plus a checksum.

XML is read with defusedxml and any DTD is refused (SOAP 1.1 messages never carry one), so entity bombs and
external entities are a fast 400, never an expansion.

Records, per `Notification`, from its sObject's type and fields:
- Case → interaction: Status New → `case_opened`; Closed (or IsClosed true) → `case_closed`; Escalated →
  `case_escalated`; anything else → `case_updated`. A Case without ContactId or ContactEmail/SuppliedEmail is skipped.
- Contact, Lead, Account → customer attributes: segment (`Segment__c`, `Customer_Segment__c`), plan (`Plan__c`), region
  (`Region__c`, else the billing/mailing country), account (AccountId, or an Account's Id), agent (OwnerId), value
  (AnnualRevenue), industry.
- Any sObject with a score field (NPS…, CSAT…/Satisfaction…, CES…/Effort…, matched on the name without `__c` and
  underscores), or a survey-like object (its type names a survey, feedback or response) with a comment field →
  feedback (channel `survey`).
Customer keys: `salesforce:contact` (ContactId, `Contact__c`, or a Contact's Id), `salesforce:lead`,
`salesforce:account` (an Account's own Id only) and `email`.

Dedupe: the sorted Notification ids joined with ",". Salesforce may regroup notifications when it retries, so records
also carry stable external ids (the notification id for interactions, the sObject id for feedback).

Replies: 200 with the SOAP Ack (which acknowledges every notification in the message). Refusals answer 401/400/422
with a SOAP Client fault, never 5xx for the sender's mistake; Salesforce retries any non-200 for up to 24 h, which
is what a misconfiguration fixed within that time needs.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from cxm_ingest.domain.records import CustomerRecord, CustomerRef, FeedbackRecord, InteractionRecord, Record, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import as_number, check_config, customer_ref, parse_iso, same_signature, score_in_range

SOURCE = "salesforce"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
    b" <soapenv:Body>\n"
    b'  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
    b"   <Ack>true</Ack>\n"
    b"  </notificationsResponse>\n"
    b" </soapenv:Body>\n"
    b"</soapenv:Envelope>\n"
)
XML_CONTENT_TYPE = "text/xml; charset=utf-8"
_ORG_ID = re.compile(r"^00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?$")
_SALESFORCE_ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$")
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

CASE_STATUS_TO_INTERACTION = {"new": "case_opened", "closed": "case_closed", "escalated": "case_escalated"}
CUSTOMER_OBJECTS = {"Contact": "salesforce:contact", "Lead": "salesforce:lead", "Account": "salesforce:account"}
# Field names normalised: lower-case, without the custom `__c` suffix and without underscores.
SCORE_FIELDS = {
    "nps": {"nps", "npsscore", "npsrating", "likelihoodtorecommend", "recommendscore"},
    "csat": {"csat", "csatscore", "csatrating", "satisfaction", "satisfactionscore", "satisfactionrating"},
    "ces": {"ces", "cesscore", "effortscore", "customereffortscore"},
}
SCORE_RANGES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
COMMENT_FIELDS = {"comment", "comments", "feedback", "feedbackcomment", "npscomment", "csatcomment", "surveycomment"}
SURVEY_TYPE_WORDS = ("survey", "feedback", "response", "nps", "csat")
EMAIL_FIELDS = ("Email", "ContactEmail", "SuppliedEmail", "PersonEmail", "Email__c", "Respondent_Email__c")
ATTRIBUTE_FIELDS = {
    "segment": {"segment", "customersegment"},
    "plan": {"plan", "subscriptionplan"},
    "region": {"region"},
}
COUNTRY_FIELDS = ("BillingCountry", "MailingCountry", "Country")


def is_valid_org_id(value: str) -> bool:
    """Whether a value is a 15-character org id, or an 18-character one whose checksum suffix is right."""
    if not _ORG_ID.match(value):
        return False
    if len(value) == 15:
        return True
    suffix = ""
    for start in (0, 5, 10):
        chunk = value[start : start + 5]
        bits = sum(1 << index for index, char in enumerate(chunk) if "A" <= char <= "Z")
        suffix += _CHECKSUM_ALPHABET[bits]
    return value[15:] == suffix


class SalesforceAdapter:
    """Salesforce Outbound Messages, authenticated by a URL token and the organisation id."""

    name = SOURCE
    secret_fields: tuple[str, ...] = ("token",)
    uses_path_token = True
    media_types = ("text/xml", "application/xml", "application/soap+xml")

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the organisation id and generate the URL token when absent."""
        prepared: dict[str, Any] = check_config(config, required=("organization_id",), optional=("token",))
        if not is_valid_org_id(prepared["organization_id"]):
            raise ConfigError("organization_id must be the 15- or 18-character Salesforce org id (00D…)")
        prepared.setdefault("token", secrets.token_urlsafe(32))
        return prepared

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check the URL token, then that the message comes from the configured organisation."""
        token = str(config.get("token", ""))
        organization_id = str(config.get("organization_id", ""))
        if not token or not organization_id:
            raise ConfigError("the connection has no token or organization_id")
        if not request.path_token:
            raise Refused("missing URL token")
        if not same_signature(token, request.path_token):
            raise Refused("URL token does not match")
        sent = _text(_notifications(request.body), "OrganizationId")
        if sent is None or not _SALESFORCE_ID.match(sent):
            raise Refused("the message carries no valid OrganizationId")
        if not same_signature(organization_id[:15], sent[:15]):
            raise Refused("OrganizationId is not this connection's organisation")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Read every Notification's sObject into records."""
        notifications = _notifications(request.body)
        ids: list[str] = []
        records: list[Record] = []
        skipped = 0
        for notification in notifications.findall(f"{{{OUTBOUND}}}Notification"):
            notification_id = _text(notification, "Id")
            sobject = notification.find(f"{{{OUTBOUND}}}sObject")
            if notification_id is None or sobject is None:
                raise BadPayload("every Notification needs an Id and an sObject")
            ids.append(notification_id)
            found = _records(notification_id, _object_type(sobject), _fields(sobject), request.received_at)
            if not found:
                skipped += 1
            records.extend(found)
        if not ids:
            raise BadPayload("the message has no Notification")
        note = f"{skipped} of {len(ids)} notification(s) carried nothing usable" if skipped else None
        return Delivery(delivery_id=",".join(sorted(ids)), records=records, note=note)

    def reply(self, delivery: Delivery) -> Reply:
        """200 with the SOAP Ack Salesforce needs before it drops the message from its queue."""
        return Reply(status=200, body=ACK, content_type=XML_CONTENT_TYPE)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """The 4xx status with a SOAP Client fault naming the reason."""
        fault = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>soapenv:Client</faultcode><faultstring>{escape(error.reason)}</faultstring>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return Reply(status=error.status, body=fault.encode(), content_type=XML_CONTENT_TYPE)

    def probe(self, request: WebhookRequest) -> Reply | None:
        """No unsigned checks."""
        return None


def _notifications(body: bytes) -> ET.Element:
    try:
        root: ET.Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadPayload("XML with a DTD or entity declarations is refused") from exc
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise BadPayload("body is not well-formed XML") from exc
    envelope_body = root.find(f"{{{SOAP_ENV}}}Body") if root.tag == f"{{{SOAP_ENV}}}Envelope" else None
    notifications = envelope_body.find(f"{{{OUTBOUND}}}notifications") if envelope_body is not None else None
    if notifications is None:
        raise BadPayload("body is not a SOAP 1.1 Outbound Message (notifications)")
    return notifications


def _text(element: ET.Element, name: str) -> str | None:
    child = element.find(f"{{{OUTBOUND}}}{name}")
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _object_type(sobject: ET.Element) -> str:
    # xsi:type is a QName such as "sf:Case"; the prefix is whatever the sender bound.
    return (sobject.get(f"{{{XSI}}}type") or "").rpartition(":")[2]


def _fields(sobject: ET.Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in sobject:
        if len(child) or child.get(f"{{{XSI}}}nil") == "true" or not isinstance(child.tag, str):
            continue
        value = (child.text or "").strip()
        if value:
            fields[child.tag.rpartition("}")[2]] = value
    return fields


def _normalised(field: str) -> str:
    name = field[:-3] if field.endswith("__c") else field
    return name.replace("_", "").lower()


def _by_normalised(fields: dict[str, str], names: set[str]) -> tuple[str, str] | None:
    for field, value in fields.items():
        if _normalised(field) in names:
            return field, value
    return None


def _records(notification_id: str, object_type: str, fields: dict[str, str], received_at: datetime) -> list[Record]:
    customer = _customer(object_type, fields)
    records: list[Record] = []
    if object_type == "Case" and customer is not None:
        records.append(_case(notification_id, fields, customer, received_at))
    if object_type in CUSTOMER_OBJECTS and customer is not None:
        records.append(CustomerRecord(customer=customer, attributes=_attributes(object_type, fields)))
    feedback = _feedback(notification_id, object_type, fields, customer, received_at)
    if feedback is not None:
        records.append(feedback)
    return records


def _customer(object_type: str, fields: dict[str, str]) -> CustomerRef | None:
    own_kind = CUSTOMER_OBJECTS.get(object_type)
    keys = [(own_kind, fields.get("Id"))] if own_kind else []
    if object_type != "Contact":
        keys.append(("salesforce:contact", fields.get("ContactId") or fields.get("Contact__c")))
    email = next((fields[name] for name in EMAIL_FIELDS if fields.get(name)), None)
    if own_kind:
        name = fields.get("Name") or " ".join(
            part for part in (fields.get("FirstName"), fields.get("LastName")) if part
        )
    else:
        # On other objects `Name` is the record's own name (e.g. "SR-0042"), not a person's.
        name = fields.get("SuppliedName", "")
    return customer_ref(keys, email=email, name=name)


def _case(
    notification_id: str, fields: dict[str, str], customer: CustomerRef, received_at: datetime
) -> InteractionRecord:
    status = fields.get("Status", "")
    name = CASE_STATUS_TO_INTERACTION.get(status.lower(), "case_updated")
    if fields.get("IsClosed", "").lower() == "true":
        name = "case_closed"
    modified = parse_iso(fields.get("LastModifiedDate"))
    if name == "case_opened":
        occurred_at = parse_iso(fields.get("CreatedDate")) or modified
    elif name == "case_closed":
        occurred_at = parse_iso(fields.get("ClosedDate")) or modified
    else:
        occurred_at = modified
    properties = {
        "case_id": fields.get("Id"),
        "case_number": fields.get("CaseNumber"),
        "status": fields.get("Status"),
        "priority": fields.get("Priority"),
        "origin": fields.get("Origin"),
        "case_type": fields.get("Type"),
        "reason": fields.get("Reason"),
    }
    return InteractionRecord(
        name=name,
        source=SOURCE,
        external_id=f"{SOURCE}:{notification_id}",
        customer=customer,
        occurred_at=occurred_at or received_at,
        channel="ticket",
        properties={key: value for key, value in properties.items() if value is not None},
    )


def _attributes(object_type: str, fields: dict[str, str]) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for attribute, names in ATTRIBUTE_FIELDS.items():
        found = _by_normalised(fields, names)
        if found is not None:
            attributes[attribute] = found[1]
    if "region" not in attributes:
        country = next((fields[name] for name in COUNTRY_FIELDS if fields.get(name)), None)
        if country is not None:
            attributes["region"] = country
    account = fields.get("Id") if object_type == "Account" else fields.get("AccountId")
    if account is not None:
        attributes["account"] = account
    if object_type == "Account" and fields.get("Name"):
        attributes["account_name"] = fields["Name"]
    if fields.get("OwnerId"):
        attributes["agent"] = fields["OwnerId"]
    if fields.get("Industry"):
        attributes["industry"] = fields["Industry"]
    revenue = as_number(fields.get("AnnualRevenue"))
    if revenue is not None:
        attributes["value"] = int(revenue) if revenue.is_integer() else revenue
    return attributes


def _feedback(
    notification_id: str,
    object_type: str,
    fields: dict[str, str],
    customer: CustomerRef | None,
    received_at: datetime,
) -> FeedbackRecord | None:
    scores: dict[str, int] = {}
    for kind, names in SCORE_FIELDS.items():
        found = _by_normalised(fields, names)
        if found is None:
            continue
        low, high = SCORE_RANGES[kind]
        score = score_in_range(found[1], low, high)
        if score is None:
            raise BadPayload(f"{object_type}.{found[0]} must be a whole {kind.upper()} score {low}–{high}", status=422)
        scores[kind] = score
    comment = _by_normalised(fields, COMMENT_FIELDS)
    survey_like = any(word in object_type.lower() for word in SURVEY_TYPE_WORDS)
    if not scores and not (survey_like and comment is not None):
        return None
    occurred_at = parse_iso(fields.get("CreatedDate")) or parse_iso(fields.get("LastModifiedDate")) or received_at
    return FeedbackRecord(
        channel="survey",
        source=SOURCE,
        external_id=f"{SOURCE}:{fields.get('Id') or notification_id}",
        customer=customer,
        text=comment[1] if comment is not None else None,
        scores=Scores(**scores),
        occurred_at=occurred_at,
        metadata={"object": object_type, "notification_id": notification_id},
    )


ADAPTER = SalesforceAdapter()
