"""The public request and response bodies of ingest's API."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxm_ingest.domain.records import CHANNELS

Channel = Literal["survey", "ticket", "chat", "email", "sms", "review", "social", "call", "in_app", "web", "other"]
assert set(CHANNELS) == set(Channel.__args__)  # type: ignore[attr-defined]

MAX_TEXT = 20_000
Key = Field(min_length=1, max_length=256)


class Strict(BaseModel):
    """Unknown fields are refused, so a typo is a 422 rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Lenient(Strict):
    """Strict, except that a `tenant_id` is dropped unread: the tenant comes from the API key, never the body."""

    @model_validator(mode="before")
    @classmethod
    def _ignore_tenant(cls, data: Any) -> Any:
        if isinstance(data, dict) and "tenant_id" in data:
            return {k: v for k, v in data.items() if k != "tenant_id"}
        return data


def _not_far_future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("times need a time zone (e.g. 2026-01-31T12:00:00Z)")
    if value > datetime.now(UTC) + timedelta(days=1):
        raise ValueError("more than a day in the future")
    try:
        value = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range") from exc
    if value.year < 1970:
        raise ValueError("before 1970")
    return value


class CustomerIn(Strict):
    """A customer as the tenant knows them: its own key, plus optional contact details."""

    id: str = Key
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[\d\s().-]{4,}$")


class ScoresIn(Strict):
    """Structured scores: NPS 0–10, CSAT 1–5, CES 1–7."""

    nps: int | None = Field(default=None, ge=0, le=10)
    csat: int | None = Field(default=None, ge=1, le=5)
    ces: int | None = Field(default=None, ge=1, le=7)


class FeedbackIn(Lenient):
    """One piece of feedback."""

    channel: Channel
    source: str = Field(default="api", min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    external_id: str | None = Field(default=None, min_length=1, max_length=256)
    customer: CustomerIn | None = None
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    scores: ScoresIn = Field(default_factory=ScoresIn)
    touchpoint: str | None = Field(default=None, max_length=128)
    occurred_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=64)

    _check_time = field_validator("occurred_at")(_not_far_future)

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackIn:
        if (
            not (self.text and self.text.strip())
            and self.scores.nps is None
            and self.scores.csat is None
            and (self.scores.ces is None)
        ):
            raise ValueError("feedback needs a text or at least one score")
        return self


class FeedbackBatchIn(Strict):
    """Up to 1,000 feedback records, validated all together."""

    items: list[FeedbackIn] = Field(min_length=1, max_length=1000)


class InteractionIn(Lenient):
    """Something a customer did: `signup_completed`, `checkout_started`, `ticket_opened`, …"""

    customer_id: str = Key
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    channel: Channel | None = None
    source: str = Field(default="api", min_length=1, max_length=64, pattern=r"^[a-z0-9_.-]+$")
    external_id: str | None = Field(default=None, min_length=1, max_length=256)
    occurred_at: datetime
    properties: dict[str, Any] = Field(default_factory=dict, max_length=64)

    _check_time = field_validator("occurred_at")(_not_far_future)


class InteractionBatchIn(Strict):
    """Up to 1,000 interactions, validated all together."""

    items: list[InteractionIn] = Field(min_length=1, max_length=1000)


class Accepted(BaseModel):
    """The id of what was stored (or of the earlier copy, for a duplicate)."""

    id: uuid.UUID
    duplicate: bool = False


class BatchAccepted(BaseModel):
    """What a batch stored."""

    accepted: int
    duplicates: int
    ids: list[uuid.UUID]


class CustomerAttributesIn(Lenient):
    """Attributes to group and weigh by, and contact details (kept encrypted)."""

    segment: str | None = Field(default=None, max_length=128)
    plan: str | None = Field(default=None, max_length=128)
    region: str | None = Field(default=None, max_length=128)
    account: str | None = Field(default=None, max_length=256)
    agent: str | None = Field(default=None, max_length=256)
    team: str | None = Field(default=None, max_length=256)
    value: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    name: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[\d\s().-]{4,}$")


class CustomerOut(BaseModel):
    """A customer: internal id, the tenant's key and attributes."""

    id: uuid.UUID
    key: str | None
    attributes: dict[str, Any]
    email: str | None = None
    name: str | None = None
    phone: str | None = None
    erased: bool = False


class FeedbackOut(BaseModel):
    """A stored feedback record (text is null once its customer was erased)."""

    id: uuid.UUID
    customer_id: uuid.UUID | None
    channel: str
    source: str
    connection_id: uuid.UUID | None
    external_id: str | None
    text: str | None
    scores: dict[str, int | None]
    touchpoint: str | None
    occurred_at: datetime
    received_at: datetime
    metadata: dict[str, Any]


class FeedbackPage(BaseModel):
    """A page of feedback, oldest first."""

    items: list[FeedbackOut]
    next_cursor: str | None = None


class ErasureAccepted(BaseModel):
    """An erasure request."""

    erasure_id: uuid.UUID


class ErasureOut(BaseModel):
    """Which services have completed an erasure."""

    id: uuid.UUID
    customer_id: uuid.UUID
    requested_at: datetime
    services: dict[str, datetime | None]
    complete: bool
