"""HubSpot: v3 (or legacy v1/v2) signatures, a batch of CRM events per request, one dedupe id per batch."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cxm_ingest.domain.records import CustomerRecord, CustomerRef, FeedbackRecord, InteractionRecord
from cxm_ingest.sources.base import BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.hubspot import ADAPTER
from tests.ingest.signers import hubspot_headers, hubspot_v1, hubspot_v2, hubspot_v3

FIXTURES = Path(__file__).parents[2] / "fixtures" / "webhooks"
SECRET = "5b8e0c2a-1f3d-4e6a-9b7c-0d2e4f6a8b1c"
CONFIG = ADAPTER.prepare_config({"client_secret": SECRET, "app_id": 3301457})
URL = "https://cxm.example.com/webhooks/hubspot?portal=4410982"
NOW = datetime(2025, 3, 14, 9, 21, 40, tzinfo=UTC)
BATCH = (FIXTURES / "hubspot_batch.json").read_bytes()
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":'
    b'"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


def millis(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def signed(body: bytes, *, at: datetime = NOW, secret: str = SECRET, url: str = URL) -> WebhookRequest:
    return WebhookRequest("POST", url, hubspot_headers(secret, url, body, millis(at)), body, received_at=NOW)


def unsigned(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", URL, {"content-type": "application/json"}, body, received_at=NOW)


def batch(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


def contact_change(name: str, value: Any, event_id: int = 1) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "subscriptionId": 2871105,
        "portalId": 4410982,
        "occurredAt": 1741944067418,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 90211,
        "propertyName": name,
        "propertyValue": value,
    }


def test_a_signed_batch_is_verified_and_every_event_becomes_a_record() -> None:
    request = signed(BATCH)
    ADAPTER.verify(request, CONFIG, now=NOW)
    delivery = ADAPTER.parse(request)

    contact, ticket, feedback = delivery.records
    assert contact == CustomerRecord(CustomerRef(keys=(("hubspot:contact", "90211"),)))
    assert isinstance(ticket, InteractionRecord)
    assert ticket.name == "ticket_status_changed"
    assert ticket.channel == "ticket"
    assert ticket.properties["ticket_id"] == "7719843"
    assert ticket.properties["pipeline_stage"] == "4"
    assert ticket.external_id == "hubspot:event:4410982:2871109:4022915621:7719843:1741944071102"
    assert ticket.occurred_at == datetime(2025, 3, 14, 9, 21, 11, 102000, tzinfo=UTC)
    assert isinstance(feedback, FeedbackRecord)
    assert feedback.channel == "survey"
    assert feedback.external_id == "hubspot:feedback_submission:551230918"
    assert feedback.text is None
    assert feedback.customer is None
    assert feedback.metadata["object_type_id"] == "0-19"
    assert feedback.metadata["portal_id"] == "4410982"
    assert feedback.occurred_at == datetime(2025, 3, 14, 9, 21, 30, 551000, tzinfo=UTC)
    assert delivery.delivery_id is not None and delivery.delivery_id.startswith("hubspot:")


def test_a_ticket_creation_is_an_opened_ticket() -> None:
    event = {"eventId": 7, "subscriptionType": "ticket.creation", "objectId": 7719843, "occurredAt": 1741944071102}

    (interaction,) = ADAPTER.parse(signed(batch(event))).records

    assert isinstance(interaction, InteractionRecord)
    assert interaction.name == "ticket_opened"
    assert interaction.properties["ticket_id"] == "7719843"


@pytest.mark.parametrize(
    ("name", "value", "attributes"),
    [
        ("lifecyclestage", "customer", {"segment": "customer"}),
        ("hs_lead_status", "OPEN_DEAL", {"hs_lead_status": "OPEN_DEAL"}),
        ("annualrevenue", "1250000", {"value": 1250000}),
        ("annualrevenue", "99.5", {"value": 99.5}),
        ("company", "Acme Ltd", {"account": "Acme Ltd"}),
        ("hubspot_owner_id", 55120871, {"agent": "55120871"}),
        ("country", "Portugal", {"region": "Portugal"}),
        ("lifecyclestage", "", {"segment": None}),
    ],
)
def test_known_contact_properties_become_customer_attributes(name: str, value: Any, attributes: dict[str, Any]) -> None:
    (record,) = ADAPTER.parse(signed(batch(contact_change(name, value)))).records

    assert record == CustomerRecord(CustomerRef(keys=(("hubspot:contact", "90211"),)), attributes)


def test_an_email_change_links_the_email_to_the_contact() -> None:
    (record,) = ADAPTER.parse(signed(batch(contact_change("email", " Dana.Reyes@Example.org")))).records

    assert isinstance(record, CustomerRecord)
    assert record.customer.keys == (("hubspot:contact", "90211"), ("email", "dana.reyes@example.org"))


def test_a_merge_names_every_merged_contact() -> None:
    event = {"eventId": 9, "subscriptionType": "contact.merge", "objectId": 1, "mergedObjectIds": [2, 3]}

    (record,) = ADAPTER.parse(signed(batch(event))).records

    assert isinstance(record, CustomerRecord)
    assert record.customer.keys == (("hubspot:contact", "1"), ("hubspot:contact", "2"), ("hubspot:contact", "3"))


def test_events_we_do_not_use_are_acknowledged_with_a_note() -> None:
    events = [
        contact_change("favourite_colour", "teal"),
        {"eventId": 2, "subscriptionType": "company.creation", "objectId": 5},
        {"eventId": 3, "subscriptionType": "ticket.propertyChange", "objectId": 6, "propertyName": "subject"},
        "not an event",
    ]

    delivery = ADAPTER.parse(signed(json.dumps(events).encode()))

    assert delivery.records == []
    assert delivery.note is not None and "company.creation" in delivery.note


def test_an_empty_batch_stores_nothing() -> None:
    delivery = ADAPTER.parse(signed(b"[]"))

    assert delivery == Delivery(None, [], note="empty batch")


def test_the_dedupe_id_identifies_the_batch_across_retries_and_orderings() -> None:
    events = json.loads(BATCH)
    retried = [{**event, "attemptNumber": event["attemptNumber"] + 1} for event in reversed(events)]
    changed = [{**events[0], "eventId": 1840213078}, *events[1:]]

    first = ADAPTER.parse(signed(BATCH)).delivery_id
    again = ADAPTER.parse(signed(BATCH, at=NOW + timedelta(minutes=2))).delivery_id

    assert first == again == ADAPTER.parse(signed(json.dumps(retried).encode())).delivery_id
    assert first != ADAPTER.parse(signed(json.dumps(changed).encode())).delivery_id
    assert first != ADAPTER.parse(signed(json.dumps(events[:2]).encode())).delivery_id


def test_the_documentation_v1_vector_is_accepted() -> None:
    assert hubspot_v1(DOC_SECRET, DOC_BODY) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    headers = {
        "x-hubspot-signature": "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
        "x-hubspot-signature-version": "v1",
    }
    request = WebhookRequest("POST", URL, headers, DOC_BODY, received_at=NOW)

    ADAPTER.verify(request, {"client_secret": DOC_SECRET}, now=NOW)
    with pytest.raises(Refused):
        ADAPTER.verify(request, CONFIG, now=NOW)


def test_the_documentation_v2_vector_is_accepted() -> None:
    signature = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    assert hubspot_v2(DOC_SECRET, "GET", "https://www.example.com/webhook_uri") == signature
    headers = {"x-hubspot-signature": signature, "x-hubspot-signature-version": "v2"}
    request = WebhookRequest("GET", "https://www.example.com/webhook_uri", headers, b"", received_at=NOW)

    ADAPTER.verify(request, {"client_secret": DOC_SECRET}, now=NOW)
    with pytest.raises(Refused):
        ADAPTER.verify(
            WebhookRequest("GET", URL, headers, b"", received_at=NOW), {"client_secret": DOC_SECRET}, now=NOW
        )


def test_v2_signs_method_url_and_body() -> None:
    headers = {"x-hubspot-signature": hubspot_v2(SECRET, "POST", URL, BATCH), "x-hubspot-signature-version": "v2"}

    ADAPTER.verify(WebhookRequest("POST", URL, headers, BATCH, received_at=NOW), CONFIG, now=NOW)


def test_v3_accepts_the_uri_with_the_documented_characters_decoded() -> None:
    url = "https://cxm.example.com/webhooks/hubspot?next=a%3Ab%2Fc"
    timestamp = millis(NOW)
    headers = {
        "x-hubspot-request-timestamp": timestamp,
        "x-hubspot-signature-v3": hubspot_v3(
            SECRET, "POST", "https://cxm.example.com/webhooks/hubspot?next=a:b/c", BATCH, timestamp
        ),
    }

    ADAPTER.verify(WebhookRequest("POST", url, headers, BATCH, received_at=NOW), CONFIG, now=NOW)


def without(request: WebhookRequest, *names: str, **values: str) -> WebhookRequest:
    headers = {name: value for name, value in request.headers.items() if name not in names}
    headers.update({name.replace("_", "-"): value for name, value in values.items()})
    return WebhookRequest(request.method, request.url, headers, request.body, request.received_at)


def forgeries() -> dict[str, WebhookRequest]:
    good = signed(BATCH)
    v3 = good.headers["x-hubspot-signature-v3"]
    v1_only = without(good, "x-hubspot-signature-v3")
    return {
        "wrong secret": signed(BATCH, secret="another-secret"),
        "tampered body": WebhookRequest("POST", URL, good.headers, BATCH.replace(b"90211", b"90212"), NOW),
        "re-serialised JSON": WebhookRequest("POST", URL, good.headers, json.dumps(json.loads(BATCH)).encode(), NOW),
        "other URL": WebhookRequest("POST", URL + "&x=1", good.headers, BATCH, NOW),
        "other method": WebhookRequest("PUT", URL, good.headers, BATCH, NOW),
        "empty v3 with a valid v1": without(good, x_hubspot_signature_v3=""),
        "truncated v3": without(good, x_hubspot_signature_v3=v3[:-2]),
        "v3 without timestamp": without(good, "x-hubspot-request-timestamp"),
        "v3 with a timestamp in seconds": without(good, x_hubspot_request_timestamp=str(int(NOW.timestamp()))),
        "v3 with a non-numeric timestamp": without(good, x_hubspot_request_timestamp="1741944100000.0"),
        "no signature at all": without(good, "x-hubspot-signature-v3", "x-hubspot-signature"),
        "v1 tampered": WebhookRequest("POST", URL, v1_only.headers, BATCH + b" ", NOW),
        "v1 truncated": without(v1_only, x_hubspot_signature=v1_only.headers["x-hubspot-signature"][:-1]),
        "v1 claimed as v2": without(v1_only, x_hubspot_signature_version="v2"),
        "unknown version": without(v1_only, x_hubspot_signature_version="v4"),
        "no version": without(v1_only, "x-hubspot-signature-version"),
        "v1 with a prefix": without(v1_only, x_hubspot_signature="sha256=" + v1_only.headers["x-hubspot-signature"]),
    }


@pytest.mark.parametrize("case", sorted(forgeries()))
def test_forged_requests_are_refused(case: str) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(forgeries()[case], CONFIG, now=NOW)


def test_a_valid_v1_signature_alone_is_accepted() -> None:
    ADAPTER.verify(without(signed(BATCH), "x-hubspot-signature-v3"), CONFIG, now=NOW)


@pytest.mark.parametrize("offset_s", [301, -301])
def test_a_v3_timestamp_more_than_five_minutes_away_is_refused(offset_s: int) -> None:
    with pytest.raises(Refused):
        ADAPTER.verify(signed(BATCH, at=NOW + timedelta(seconds=offset_s)), CONFIG, now=NOW)


@pytest.mark.parametrize("offset_s", [299, -299])
def test_a_v3_timestamp_within_five_minutes_is_accepted(offset_s: int) -> None:
    ADAPTER.verify(signed(BATCH, at=NOW + timedelta(seconds=offset_s)), CONFIG, now=NOW)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b"42",
        b'{"eventId": 1}',
        b"not json",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        b'[{"subscriptionType": "contact.propertyChange", "objectId": {}, "propertyName": "annualrevenue"}]',
        b'[{"subscriptionType": "contact.propertyChange", "objectId": 1, "propertyName": "annualrevenue",'
        b' "propertyValue": "1e999"}]',
        b'[{"subscriptionType": "ticket.creation", "objectId": 1, "occurredAt": 1e300}]',
        b'[{"subscriptionType": "object.creation", "objectTypeId": ["0-19"], "objectId": 1}]',
        b'[{"subscriptionType": "contact.merge", "objectId": 1, "mergedObjectIds": {"a": 1}}]',
        b"[null, 1, [], {}]",
    ],
)
def test_any_body_is_either_parsed_or_a_bad_payload(body: bytes) -> None:
    try:
        delivery = ADAPTER.parse(unsigned(body))
    except BadPayload as error:
        assert ADAPTER.refusal(error) == Reply(400)
    else:
        assert isinstance(delivery.records, list)


@pytest.mark.parametrize("body", [b"", b"null", b'{"eventId": 1}', b"not json", b"\xff"])
def test_a_body_that_is_not_an_event_array_is_a_bad_payload(body: bytes) -> None:
    with pytest.raises(BadPayload):
        ADAPTER.parse(unsigned(body))


def test_the_client_secret_is_required_and_the_app_id_optional() -> None:
    assert ADAPTER.prepare_config({"client_secret": "s"}) == {"client_secret": "s"}
    assert CONFIG == {"client_secret": SECRET, "app_id": "3301457"}
    assert ADAPTER.secret_fields == ("client_secret",)
    for config in ({}, {"client_secret": ""}, {"app_id": "1"}, {"client_secret": "s", "signing_secret": "t"}):
        with pytest.raises(ConfigError):
            ADAPTER.prepare_config(config)


def test_replies_never_ask_hubspot_to_drop_a_genuine_batch() -> None:
    assert ADAPTER.reply(ADAPTER.parse(signed(BATCH))) == Reply(200)
    assert ADAPTER.refusal(Refused("bad signature")) == Reply(401)
    assert ADAPTER.refusal(BadPayload("not an array")) == Reply(400)
    assert ADAPTER.probe(WebhookRequest("HEAD", URL, {}, b"", NOW)) is None
