"""Salesforce: SOAP Outbound Messages read safely, authenticated by URL token and organisation id, answered with Ack."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cxm_ingest.domain.records import CustomerRecord, FeedbackRecord, InteractionRecord, Scores
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest
from cxm_ingest.sources.salesforce import ADAPTER
from tests.ingest.signers import SALESFORCE_HEADERS, salesforce_outbound_message

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
MESSAGE = (FIXTURES / "salesforce_outbound_message.xml").read_bytes()
ACK = (FIXTURES / "salesforce_outbound_ack_response.xml").read_bytes()
ORG_15 = "00D5g000004ExAm"  # the fixture's OrganizationId is this plus a made-up suffix
ORG_18 = "00D5g000004ExAmEAK"
TOKEN = "sf-url-token-0123456789abcdef"
CONFIG = ADAPTER.prepare_config({"organization_id": ORG_18, "token": TOKEN})
URL = f"https://cxm.example.com/v1/webhooks/salesforce/0190c0de-0000-7000-8000-000000000003/{TOKEN}"
NOW = datetime(2025, 3, 14, 9, 50, 10, tzinfo=UTC)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 2 else "") + ";") * 10}">\n'.encode() for n in range(2, 10)
    )
    + b']>\n<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<soapenv:Body>&lol9;</soapenv:Body></soapenv:Envelope>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?>\n<!DOCTYPE notifications [<!ENTITY org SYSTEM "file:///etc/hostname">]>\n'
    b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&org;</OrganizationId>'
    b"</notifications></soapenv:Body></soapenv:Envelope>"
)


def message(body: bytes, token: str | None = TOKEN) -> WebhookRequest:
    return WebhookRequest("POST", URL, dict(SALESFORCE_HEADERS), body, received_at=NOW, path_token=token)


def outbound(sobject_type: str, *notifications: tuple[str, dict[str, str]], org: str = ORG_18) -> bytes:
    return salesforce_outbound_message(org, "04k5g000000ExAm", sobject_type, list(notifications))


# --- config -------------------------------------------------------------------------------------------------------


def test_the_org_id_is_required_and_a_url_token_is_generated() -> None:
    config = ADAPTER.prepare_config({"organization_id": ORG_15})

    assert config["organization_id"] == ORG_15
    assert len(config["token"]) >= 40
    assert ADAPTER.secret_fields == ("token",)
    assert ADAPTER.uses_path_token is True


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ({}, "organization_id"),
        ({"organization_id": ""}, "organization_id"),
        ({"organization_id": "00D5g000004ExA"}, "15- or 18-character"),
        ({"organization_id": "0015g000004ExAm"}, "00D"),
        ({"organization_id": "00D5g000004ExAmPLE"}, "18-character"),  # checksum suffix does not match
        ({"organization_id": "00D5g000004Ex-m"}, "organization_id"),
        ({"organization_id": ORG_15, "org": ORG_15}, "unknown"),
    ],
)
def test_a_missing_or_malformed_org_id_and_unknown_fields_are_config_errors(
    config: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ConfigError, match=reason):
        ADAPTER.prepare_config(config)


# --- verify -------------------------------------------------------------------------------------------------------


def test_a_message_with_the_url_token_from_the_configured_org_is_verified() -> None:
    ADAPTER.verify(message(MESSAGE), CONFIG, now=NOW)


def test_a_15_character_configured_org_id_matches_the_18_character_one_in_the_message() -> None:
    config = ADAPTER.prepare_config({"organization_id": ORG_15, "token": TOKEN})

    ADAPTER.verify(message(MESSAGE), config, now=NOW)


@pytest.mark.parametrize("token", [None, "", "sf-url-token-0123456789abcdeX", "sf-url-token", TOKEN + "x"])
def test_a_missing_or_wrong_url_token_is_refused(token: str | None) -> None:
    with pytest.raises(Refused) as refused:
        ADAPTER.verify(message(MESSAGE, token=token), CONFIG, now=NOW)
    assert refused.value.status == 401


@pytest.mark.parametrize("org", ["00D5g000004ExBmEAK", "00D5g000004EXAMEAK", "00d5g000004ExAmEAK", "00D5g0000"])
def test_a_message_from_another_organisation_is_refused(org: str) -> None:
    body = outbound("Case", ("04l5g00000AbCdEFGH", {"Id": "5005g00000XyZ12AAB", "Status": "New"}), org=org)

    with pytest.raises(Refused):
        ADAPTER.verify(message(body), CONFIG, now=NOW)


def test_a_message_without_an_organisation_id_is_refused() -> None:
    body = MESSAGE.replace(b"<OrganizationId>00D5g000004ExAmPLE</OrganizationId>", b"")

    with pytest.raises(Refused, match="OrganizationId"):
        ADAPTER.verify(message(body), CONFIG, now=NOW)


def test_a_tampered_organisation_id_is_refused() -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(message(MESSAGE.replace(b"00D5g000004ExAmPLE", b"00D5g000004ExAnPLE")), CONFIG, now=NOW)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY])
def test_entity_bombs_and_external_entities_are_bad_payloads_at_once(body: bytes) -> None:
    started = time.monotonic()

    with pytest.raises(BadPayload) as in_verify:
        ADAPTER.verify(message(body), CONFIG, now=NOW)
    with pytest.raises(BadPayload) as in_parse:
        ADAPTER.parse(message(body))

    assert time.monotonic() - started < 0.5
    assert in_verify.value.status == in_parse.value.status == 400
    assert "DTD" in in_parse.value.reason


def test_an_undeclared_entity_is_a_bad_payload() -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(message(MESSAGE.replace(b"<sf:Origin>Web", b"<sf:Origin>&web;")))


# --- parse --------------------------------------------------------------------------------------------------------


def test_each_case_notification_becomes_an_interaction_named_by_its_status() -> None:
    delivery = ADAPTER.parse(message(MESSAGE))

    assert delivery.delivery_id == "04l5g00000AbCdEFGH,04l5g00000AbCdEFGI"
    closed, escalated = delivery.records
    assert isinstance(closed, InteractionRecord)
    assert closed.name == "case_closed"
    assert closed.source == "salesforce"
    assert closed.external_id == "salesforce:04l5g00000AbCdEFGH"
    assert closed.channel == "ticket"
    assert closed.customer.keys == (("email", "dana.reyes@example.org"),)
    assert closed.occurred_at == datetime(2025, 3, 14, 9, 50, 2, tzinfo=UTC)
    assert closed.properties == {
        "case_id": "5005g00000XyZ12AAB",
        "case_number": "00048213",
        "status": "Closed",
        "priority": "High",
        "origin": "Web",
    }
    assert isinstance(escalated, InteractionRecord)
    assert escalated.name == "case_escalated"
    assert escalated.customer.keys == (("email", "lee.okafor@example.net"),)


def test_a_new_case_is_opened_at_its_creation_and_is_closed_flag_wins_over_status() -> None:
    body = outbound(
        "Case",
        (
            "04l000000000001AAA",
            {
                "Id": "500000000000001AAA",
                "Status": "New",
                "ContactId": "003000000000001AAA",
                "ContactEmail": "Dana.Reyes@Example.org",
                "CreatedDate": "2025-03-14T08:00:00.000Z",
                "LastModifiedDate": "2025-03-14T08:05:00.000Z",
            },
        ),
        (
            "04l000000000002AAA",
            {
                "Id": "500000000000002AAA",
                "Status": "Resolved by bot",
                "IsClosed": "true",
                "ContactId": "003000000000002AAA",
                "ClosedDate": "2025-03-14T09:00:00.000Z",
            },
        ),
    )

    opened, closed = ADAPTER.parse(message(body)).records

    assert isinstance(opened, InteractionRecord)
    assert opened.name == "case_opened"
    assert opened.occurred_at == datetime(2025, 3, 14, 8, 0, tzinfo=UTC)
    assert opened.customer.keys == (
        ("salesforce:contact", "003000000000001AAA"),
        ("email", "dana.reyes@example.org"),
    )
    assert isinstance(closed, InteractionRecord)
    assert closed.name == "case_closed"
    assert closed.occurred_at == datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


def test_a_replayed_message_has_the_same_dedupe_id_whatever_the_notification_order() -> None:
    first = ("04l000000000001AAA", {"Id": "500000000000001AAA", "Status": "New", "ContactId": "003000000000001AAA"})
    second = ("04l000000000002AAA", {"Id": "500000000000002AAA", "Status": "New", "ContactId": "003000000000002AAA"})

    one = ADAPTER.parse(message(outbound("Case", first, second)))
    other = ADAPTER.parse(message(outbound("Case", second, first)))

    assert one.delivery_id == other.delivery_id == "04l000000000001AAA,04l000000000002AAA"


def test_a_contact_becomes_a_customer_with_crm_attributes() -> None:
    fields = {
        "Id": "003000000000001AAA",
        "Email": " Dana.Reyes@Example.org",
        "FirstName": "Dana",
        "LastName": "Reyes",
        "AccountId": "001000000000001AAA",
        "Customer_Segment__c": "Enterprise",
        "Plan__c": "Business",
        "MailingCountry": "DE",
        "OwnerId": "005000000000001AAA",
    }

    (record,) = ADAPTER.parse(message(outbound("Contact", ("04l000000000001AAA", fields)))).records

    assert isinstance(record, CustomerRecord)
    assert record.customer.keys == (("salesforce:contact", "003000000000001AAA"), ("email", "dana.reyes@example.org"))
    assert record.customer.name == "Dana Reyes"
    assert record.attributes == {
        "segment": "Enterprise",
        "plan": "Business",
        "region": "DE",
        "account": "001000000000001AAA",
        "agent": "005000000000001AAA",
    }


def test_an_account_becomes_a_customer_valued_by_its_annual_revenue() -> None:
    fields = {
        "Id": "001000000000001AAA",
        "Name": "Example Corp",
        "AnnualRevenue": "1.25E7",
        "Industry": "Retail",
        "Region__c": "EMEA",
        "BillingCountry": "DE",
    }

    (record,) = ADAPTER.parse(message(outbound("Account", ("04l000000000001AAA", fields)))).records

    assert isinstance(record, CustomerRecord)
    assert record.customer.keys == (("salesforce:account", "001000000000001AAA"),)
    assert record.attributes == {
        "region": "EMEA",
        "account": "001000000000001AAA",
        "account_name": "Example Corp",
        "industry": "Retail",
        "value": 12_500_000,
    }


def test_a_survey_object_with_score_and_comment_fields_becomes_feedback() -> None:
    fields = {
        "Id": "a0X000000000001AAA",
        "Name": "SR-0042",
        "Contact__c": "003000000000001AAA",
        "NPS_Score__c": "9.0",
        "CSAT__c": "4",
        "Comment__c": "Great onboarding call.",
        "CreatedDate": "2025-03-14T07:30:00.000Z",
    }

    (record,) = ADAPTER.parse(message(outbound("Survey_Response__c", ("04l000000000001AAA", fields)))).records

    assert isinstance(record, FeedbackRecord)
    assert record.channel == "survey"
    assert record.external_id == "salesforce:a0X000000000001AAA"
    assert record.scores == Scores(nps=9, csat=4)
    assert record.text == "Great onboarding call."
    assert record.customer is not None
    assert record.customer.keys == (("salesforce:contact", "003000000000001AAA"),)
    assert record.customer.name is None  # "SR-0042" names the record, not the person
    assert record.occurred_at == datetime(2025, 3, 14, 7, 30, tzinfo=UTC)
    assert record.metadata == {"object": "Survey_Response__c", "notification_id": "04l000000000001AAA"}


@pytest.mark.parametrize(("field", "value"), [("NPS_Score__c", "11"), ("CSAT__c", "0"), ("CES_Score__c", "4.5")])
def test_a_score_off_its_scale_is_unprocessable(field: str, value: str) -> None:
    body = outbound("Survey_Response__c", ("04l000000000001AAA", {"Id": "a0X000000000001AAA", field: value}))

    with pytest.raises(BadPayload, match=field) as bad:
        ADAPTER.parse(message(body))
    assert bad.value.status == 422


def test_notifications_with_nothing_usable_are_acknowledged_with_a_note() -> None:
    case_without_customer = ("04l000000000001AAA", {"Id": "500000000000001AAA", "Status": "New"})
    opportunity = ("04l000000000002AAA", {"Id": "006000000000001AAA", "StageName": "Closed Won"})

    delivery = ADAPTER.parse(message(outbound("Case", case_without_customer)))
    other = ADAPTER.parse(message(outbound("Opportunity", opportunity)))

    assert delivery.records == [] and other.records == []
    assert delivery.note == "1 of 1 notification(s) carried nothing usable"
    assert other.delivery_id == "04l000000000002AAA"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b'{"OrganizationId": "00D5g000004ExAm"}',
        b"\xff\xfe<x/>",
        b"<notifications/>",
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"/>',
        MESSAGE[: len(MESSAGE) // 2],
        MESSAGE.replace(b"<Id>04l5g00000AbCdEFGH</Id>", b""),
        outbound("Case"),
        b"<a>" * 50_000 + b"</a>" * 50_000,
    ],
)
def test_bodies_that_are_not_outbound_messages_are_bad_payloads(body: bytes) -> None:
    with pytest.raises(BadPayload) as bad:
        ADAPTER.parse(message(body))
    assert bad.value.status == 400


def test_the_reply_is_the_soap_ack_salesforce_expects() -> None:
    reply = ADAPTER.reply(ADAPTER.parse(message(MESSAGE)))

    assert reply.status == 200
    assert reply.body == ACK
    assert reply.content_type == "text/xml; charset=utf-8"
    assert ADAPTER.probe(message(MESSAGE)) is None


def test_refusals_are_4xx_soap_faults_never_5xx() -> None:
    refused = ADAPTER.refusal(Refused("OrganizationId is not <this> connection's organisation"))
    unreadable = ADAPTER.refusal(BadPayload("body is not well-formed XML"))

    assert refused.status == 401
    assert unreadable.status == 400
    assert b"<faultcode>soapenv:Client</faultcode>" in refused.body
    assert b"&lt;this&gt;" in refused.body
    assert refused.content_type == "text/xml; charset=utf-8"
