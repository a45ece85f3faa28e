"""SurveyMonkey webhooks: ids of completed responses, signed base64 HMAC-SHA1 keyed `api_key&api_secret`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from cxm_ingest.domain.records import FeedbackRecord
from cxm_ingest.sources.base import JSON_MEDIA_TYPES, BadPayload, Delivery, Refused, Reply, WebhookRequest
from cxm_ingest.sources.common import (
    as_dict,
    as_text,
    check_config,
    header,
    load_json,
    parse_iso,
    require_header,
    same_signature,
)

SOURCE = "surveymonkey"
SIGNATURE_HEADER = "sm-signature"
API_KEY_HEADER = "sm-apikey"
RESOURCE_IDS = ("survey_id", "collector_id", "respondent_id", "recipient_id", "user_id")


class SurveyMonkeyAdapter:
    """SurveyMonkey: no timestamp is signed; the payload names the response, whose answers are fetched later."""

    name = SOURCE
    secret_fields = ("api_key", "api_secret")  # rotated together: the key is half of the HMAC key
    uses_path_token = False
    media_types = JSON_MEDIA_TYPES

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Require the app's API key (client id) and API secret."""
        return check_config(config, required=("api_key", "api_secret"))

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check `Sm-Signature` = base64 HMAC-SHA1(api_key&api_secret, body), and `Sm-Apikey` when it is sent."""
        signature = require_header(request, SIGNATURE_HEADER)
        api_key = header(request, API_KEY_HEADER)
        if api_key is not None and not same_signature(config["api_key"], api_key):
            raise Refused("Sm-Apikey is not this connection's API key")
        key = f"{config['api_key']}&{config['api_secret']}".encode()
        expected = base64.b64encode(hmac.new(key, request.body, hashlib.sha1).digest()).decode("ascii")
        if not same_signature(expected, signature):
            raise Refused("signature does not match")

    def parse(self, request: WebhookRequest) -> Delivery:
        """A completed response into a feedback record holding its ids; other events are acknowledged with a note."""
        payload = load_json(request.body)
        if not isinstance(payload, dict):
            raise BadPayload("body is not a JSON object")
        delivery_id = as_text(payload.get("event_id"))
        event_type = as_text(payload.get("event_type"))
        if event_type is None:
            raise BadPayload("event has no event_type")
        if event_type != "response_completed":
            return Delivery(delivery_id, note=f"event type {event_type} not used")
        resources = as_dict(payload.get("resources"))
        survey_id = as_text(resources.get("survey_id"))
        if survey_id is None and payload.get("filter_type") == "survey":
            survey_id = as_text(payload.get("filter_id"))
        response_id = as_text(payload.get("object_id"))
        if survey_id is None or response_id is None:
            raise BadPayload("response_completed needs object_id and resources.survey_id")
        metadata: dict[str, Any] = {
            "event_type": event_type,
            "response_id": response_id,
            "webhook": payload.get("name"),
        }
        metadata.update({name: as_text(resources.get(name)) for name in RESOURCE_IDS})
        metadata["survey_id"] = survey_id
        record = FeedbackRecord(
            channel="survey",
            source=SOURCE,
            external_id=f"surveymonkey:{survey_id}:{response_id}",
            customer=None,
            occurred_at=parse_iso(payload.get("event_datetime")),
            metadata={key: value for key, value in metadata.items() if isinstance(value, str) and value},
        )
        return Delivery(delivery_id, [record])

    def reply(self, delivery: Delivery) -> Reply:
        """SurveyMonkey only needs a 2xx."""
        return Reply(200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """401 for a bad signature, 400 for an unreadable body."""
        return Reply(error.status)

    def probe(self, request: WebhookRequest) -> Reply | None:
        """Answer the HEAD check SurveyMonkey makes before it creates a webhook."""
        return Reply(200) if request.method.upper() == "HEAD" else None


ADAPTER = SurveyMonkeyAdapter()
