"""The event envelope and its JSON form."""

import uuid
from datetime import UTC, datetime

import pytest

from cxm_common.envelope import Envelope, InvalidEnvelope, check_event_type

TENANT = uuid.UUID(int=7)


def make() -> Envelope:
    return Envelope(
        type="ingest.feedback.received.v1",
        source="ingest",
        subject="f-1",
        tenant_id=TENANT,
        data={"text": "Ça marche ✓", "nps": 9},
        aggregate_version=3,
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_round_trips_through_json() -> None:
    original = make()
    parsed = Envelope.from_json(original.to_json())
    assert parsed == original


def test_knows_its_service_and_major_version() -> None:
    assert make().service == "ingest"
    assert make().major == 1


def test_caused_event_keeps_tenant_and_correlation() -> None:
    cause = make()
    effect = cause.caused("insight.feedback.analyzed.v1", "insight", "f-1", {"label": "positive"})
    assert effect.tenant_id == cause.tenant_id
    assert effect.correlation_id == cause.id
    assert effect.causation_id == cause.id
    assert effect.id != cause.id


@pytest.mark.parametrize("bad", ["ingest.feedback.received", "Ingest.a.b.v1", "a.b.v1", "a.b.c.v0", "a.b.c.d.v1"])
def test_rejects_types_that_are_not_service_aggregate_event_major(bad: str) -> None:
    with pytest.raises(InvalidEnvelope):
        check_event_type(bad)


@pytest.mark.parametrize(
    "payload",
    [b"", b"not json", b"[]", b"null", b'{"id": "x"}', b'{"data": []}'],
)
def test_malformed_messages_raise_invalid_envelope(payload: bytes) -> None:
    with pytest.raises(InvalidEnvelope):
        Envelope.from_json(payload)


def test_naive_times_are_refused() -> None:
    raw = make().to_dict()
    raw["time"] = "2026-01-02T03:04:05"
    with pytest.raises(InvalidEnvelope):
        Envelope.from_dict(raw)
