"""The event envelope shared by every service (CloudEvents-aligned) and its JSON form."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from cxm_common.ids import uuid7

EVENT_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$")


class InvalidEnvelope(ValueError):
    """A message that is not a well-formed cxm event envelope."""


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def check_event_type(event_type: str) -> str:
    """Return `event_type` if it reads `<service>.<aggregate>.<event>.v<major>`, else raise."""
    if not EVENT_TYPE_RE.match(event_type):
        raise InvalidEnvelope(f"event type {event_type!r} is not <service>.<aggregate>.<event>.v<major>")
    return event_type


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event: identity, type, origin, tenant, causality, per-aggregate version and payload."""

    type: str
    source: str
    subject: str
    tenant_id: uuid.UUID
    data: dict[str, Any]
    aggregate_version: int = 0
    id: uuid.UUID = field(default_factory=uuid7)
    time: datetime = field(default_factory=utcnow)
    recorded_at: datetime | None = None
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    traceparent: str | None = None
    position: int | None = None

    @property
    def service(self) -> str:
        """The producing service, the first segment of the type."""
        return self.type.split(".", 1)[0]

    @property
    def major(self) -> int:
        """The major version of the payload schema."""
        return int(self.type.rsplit(".v", 1)[1])

    def caused(
        self,
        type: str,
        source: str,
        subject: str,
        data: dict[str, Any],
        *,
        time: datetime | None = None,
    ) -> Envelope:
        """Return a new event caused by this one: same tenant and correlation, this id as causation."""
        return Envelope(
            type=type,
            source=source,
            subject=subject,
            tenant_id=self.tenant_id,
            data=data,
            time=time or utcnow(),
            correlation_id=self.correlation_id or self.id,
            causation_id=self.id,
        )

    def with_version(self, version: int) -> Envelope:
        """Return a copy carrying `version` as its aggregate version."""
        return replace(self, aggregate_version=version)

    def to_dict(self) -> dict[str, Any]:
        """Return the wire form as a plain dict."""
        return {
            "specversion": "1.0",
            "id": str(self.id),
            "type": self.type,
            "source": self.source,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "recorded_at": self.recorded_at.isoformat() if self.recorded_at else None,
            "tenant_id": str(self.tenant_id),
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "aggregate_version": self.aggregate_version,
            "data": self.data,
        }

    def to_json(self) -> bytes:
        """Serialise to the JSON bytes published on NATS."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw: Any) -> Envelope:
        """Parse the wire form, raising `InvalidEnvelope` on anything malformed."""
        if not isinstance(raw, dict):
            raise InvalidEnvelope("envelope is not a JSON object")
        try:
            data = raw["data"]
            if not isinstance(data, dict):
                raise InvalidEnvelope("envelope data is not an object")
            return cls(
                id=uuid.UUID(raw["id"]),
                type=check_event_type(raw["type"]),
                source=str(raw["source"]),
                subject=str(raw["subject"]),
                time=_parse_time(raw["time"]),
                recorded_at=_parse_time(raw["recorded_at"]) if raw.get("recorded_at") else None,
                tenant_id=uuid.UUID(raw["tenant_id"]),
                correlation_id=uuid.UUID(raw["correlation_id"]) if raw.get("correlation_id") else None,
                causation_id=uuid.UUID(raw["causation_id"]) if raw.get("causation_id") else None,
                aggregate_version=int(raw["aggregate_version"]),
                data=data,
            )
        except InvalidEnvelope:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidEnvelope(f"malformed envelope: {exc!r}") from exc

    @classmethod
    def from_json(cls, payload: bytes) -> Envelope:
        """Parse JSON bytes from NATS, raising `InvalidEnvelope` on anything malformed."""
        try:
            raw = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidEnvelope(f"envelope is not JSON: {exc}") from exc
        return cls.from_dict(raw)


def _parse_time(value: Any) -> datetime:
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError("time without a time zone")
    return parsed.astimezone(UTC)
