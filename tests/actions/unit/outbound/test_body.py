"""The body a receiver gets: the event's public fields, none of the envelope's internals."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson

from cxm_actions.outbound.deliveries import webhook_body
from cxm_common.envelope import Envelope


def test_the_body_is_the_event_without_internal_fields() -> None:
    tenant = uuid.uuid4()
    event = Envelope(
        type="insight.alert.raised.v1",
        source="insight",
        subject="alert-1",
        tenant_id=tenant,
        data={"alert_id": "a1", "severity": "high", "_pii": {"subject": "x", "fields": {}}, "_secret": "enc:v1:…"},
        time=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
        correlation_id=uuid.uuid4(),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        position=42,
    )
    assert orjson.loads(webhook_body(event)) == {
        "id": str(event.id),
        "type": "insight.alert.raised.v1",
        "time": "2025-01-02T03:04:05+00:00",
        "tenant_id": str(tenant),
        "subject": "alert-1",
        "data": {"alert_id": "a1", "severity": "high"},
    }
