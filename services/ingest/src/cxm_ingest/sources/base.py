"""The contract every webhook source adapter implements. Adapters are pure: no I/O, no clock of their own."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cxm_ingest.domain.records import Record


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """An inbound webhook exactly as the source sent it."""

    method: str
    url: str  # the public URL the source called: CXM_PUBLIC_BASE_URL + path (+ "?" + query), as it signed it
    headers: Mapping[str, str]  # names lower-cased
    body: bytes
    received_at: datetime
    path_token: str | None = None  # the secret URL segment, for sources that sign nothing


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one request carried: its dedupe id and the records to store (possibly none)."""

    delivery_id: str | None  # the source's own delivery/event id; None when the source has none
    records: list[Record] = field(default_factory=list)
    note: str | None = None  # why nothing was stored (ping, an event type we do not use, …); logged, acknowledged


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer the source expects."""

    status: int
    body: bytes = b""
    content_type: str | None = None


class ConfigError(ValueError):
    """A connection's config is invalid for its source (answered 422)."""


class Refused(Exception):
    """The request is not authentic (bad/missing signature, wrong token, stale timestamp)."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class BadPayload(Exception):
    """An authentic request whose body cannot be understood."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class SourceAdapter(Protocol):
    """One webhook source."""

    name: str  # the `{source}` path segment, e.g. "zendesk"
    secret_fields: tuple[str, ...]  # config fields that are secrets: masked in answers, rotated with a grace period
    uses_path_token: bool  # True where the source signs nothing and a generated token in the URL authenticates it
    media_types: tuple[str, ...]  # the bodies it sends: `type/subtype`, or a suffix such as `+json`

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Validate a connection's config, filling generated secrets; raise ConfigError."""
        ...

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Check authenticity in constant time over the raw bytes; raise Refused."""
        ...

    def parse(self, request: WebhookRequest) -> Delivery:
        """Turn an authentic request into records; raise BadPayload."""
        ...

    def reply(self, delivery: Delivery) -> Reply:
        """The answer the source expects once the delivery is stored (or recognised as a duplicate)."""
        ...

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """The answer to a refused or unreadable request (e.g. never 404/410 to Typeform)."""
        ...

    def probe(self, request: WebhookRequest) -> Reply | None:
        """Answer a check that carries no event and no signature (e.g. SurveyMonkey's HEAD) before verification."""
        ...


JSON_MEDIA_TYPES = ("application/json", "+json")


def accepts_media_type(media_types: tuple[str, ...], content_type: str | None) -> bool:
    """Whether a `Content-Type` names one of `media_types` (a request without one is left to the parser)."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return any(media_type == m or (m.startswith("+") and media_type.endswith(m)) for m in media_types)
