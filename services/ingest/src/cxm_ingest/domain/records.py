"""The canonical shapes every source is normalised into: feedback, interactions and customer updates."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

CHANNELS = ("survey", "ticket", "chat", "email", "sms", "review", "social", "call", "in_app", "web", "other")


@dataclass(frozen=True, slots=True)
class CustomerRef:
    """How a source names a customer: its keys by kind, and the PII it carries (kept encrypted, never published).

    Key kinds are `email`, `phone`, or `<source>:<kind>` for a source's own ids (e.g. `zendesk:user`,
    `hubspot:contact`, `crm`). Ingest resolves every key to one internal customer per tenant.
    """

    keys: tuple[tuple[str, str], ...]
    email: str | None = None
    name: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class Scores:
    """Structured scores on their canonical scales: NPS 0–10, CSAT 1–5, CES 1–7."""

    nps: int | None = None
    csat: int | None = None
    ces: int | None = None


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    """One piece of feedback: what a customer said and/or scored, where and when."""

    channel: str
    source: str
    external_id: str | None
    customer: CustomerRef | None
    text: str | None = None
    scores: Scores = field(default_factory=Scores)
    touchpoint: str | None = None
    occurred_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class InteractionRecord:
    """Something a customer did or that happened to them (ticket opened, conversation started, …)."""

    name: str
    source: str
    external_id: str | None
    customer: CustomerRef
    occurred_at: datetime | None = None
    channel: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """Attributes of a customer from a CRM: segment, plan, region, account, agent, team, value."""

    customer: CustomerRef
    attributes: dict[str, Any] = field(default_factory=dict)


Record = FeedbackRecord | InteractionRecord | CustomerRecord


class InvalidRecord(ValueError):
    """A record a source produced that cannot be stored as it is (answered 4xx, nothing stored)."""


LIMITS = {"external_id": 256, "name": 128, "touchpoint": 128, "source": 64, "channel": 32}


_FIELD_NAMES: dict[Any, tuple[str, ...]] = {}


def _field_names(kind: Any) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


def check_record(record: Record) -> None:
    """Refuse what Postgres could not store or index: NUL characters, over-long ids and names, absurd times."""
    for field_name, limit in LIMITS.items():
        value = getattr(record, field_name, None)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidRecord(f"{field_name} longer than {limit} characters")
    occurred = getattr(record, "occurred_at", None)
    if occurred is not None and not (1970 <= occurred.year <= 9999):
        raise InvalidRecord("occurred_at out of range")
    stack: list[Any] = [getattr(record, name) for name in _field_names(type(record))]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidRecord("NUL characters are not accepted")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, CustomerRef | Scores):
            stack.extend(getattr(item, name) for name in _field_names(type(item)))
