"""Signatures are Standard Webhooks ones: the spec's vector, and what ingest's verifier accepts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from cxm_actions.outbound.signing import USER_AGENT, generate_secret, sign, signing_key, webhook_headers
from cxm_ingest.sources.base import Refused, WebhookRequest
from cxm_ingest.sources.generic import ADAPTER

# The test vector published with the Standard Webhooks reference libraries.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = b'{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _request(headers: dict[str, str], body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", "https://cxm.example/v1/webhooks/generic/x", headers, body, datetime.now(UTC))


def test_the_signature_reproduces_the_specification_vector() -> None:
    assert sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE


def test_what_we_send_verifies_with_the_standard_webhooks_verifier_of_ingest() -> None:
    secret = generate_secret()
    body = b'{"id":"0190","type":"insight.alert.raised.v1","data":{}}'
    now = datetime.now(UTC)
    headers = webhook_headers(secret, "0190c0de-0000-7000-8000-000000000001", int(now.timestamp()), body)
    ADAPTER.verify(_request(headers, body), {"secret": secret}, now=now)


def test_a_changed_body_does_not_verify() -> None:
    secret = generate_secret()
    now = datetime.now(UTC)
    headers = webhook_headers(secret, "msg_1", int(now.timestamp()), b'{"a":1}')
    with pytest.raises(Refused):
        ADAPTER.verify(_request(headers, b'{"a":2}'), {"secret": secret}, now=now)


def test_headers_carry_the_id_timestamp_content_type_and_user_agent() -> None:
    headers = webhook_headers(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers == {
        "webhook-id": SPEC_ID,
        "webhook-timestamp": str(SPEC_TIMESTAMP),
        "webhook-signature": SPEC_SIGNATURE,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def test_a_generated_secret_is_whsec_and_32_random_bytes() -> None:
    first, second = generate_secret(), generate_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert len(signing_key(first)) == 32


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        signing_key(secret)
