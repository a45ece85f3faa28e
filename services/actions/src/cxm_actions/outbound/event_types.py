"""Which events a subscription may ask for, and which ones it matches: exact types or `service.*` patterns."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

DELIVERED_SERVICES = ("insight", "journey", "actions")
MAX_PATTERNS = 50
# Subscriptions are configuration (and carry a sealed secret): they are not events to deliver.
NOT_DELIVERED = ("actions.subscription.",)
_NAME = r"[a-z][a-z0-9_]*"
_PATTERN = re.compile(rf"^{_NAME}\.(?:\*|{_NAME}\.(?:\*|{_NAME}\.v[1-9][0-9]*))$")


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """The patterns, checked and without duplicates; ValueError saying what is wrong with the first bad one."""
    checked: list[str] = []
    for raw in patterns:
        pattern = raw.strip()
        if not _PATTERN.match(pattern):
            raise ValueError(
                f"{raw!r} is neither an event type (service.aggregate.event.v1) "
                "nor a pattern (service.* or service.aggregate.*)"
            )
        service = pattern.split(".", 1)[0]
        if service == "ingest":
            raise ValueError(
                f"{raw!r}: ingest events carry customers' personal data in the clear and are not delivered to "
                "webhooks; subscribe to insight.*, journey.* or actions.* events"
            )
        if service not in DELIVERED_SERVICES:
            raise ValueError(
                f"{raw!r}: events of {service!r} are not delivered; choose {', '.join(DELIVERED_SERVICES)}"
            )
        if _excluded(pattern.removesuffix("*")):
            raise ValueError(f"{raw!r}: subscription events are not delivered to webhooks")
        if pattern not in checked:
            checked.append(pattern)
    if not checked:
        raise ValueError("name at least one event type")
    if len(checked) > MAX_PATTERNS:
        raise ValueError(f"at most {MAX_PATTERNS} event types per subscription")
    return tuple(checked)


def matches(pattern: str, event_type: str) -> bool:
    """Whether one pattern covers an event type."""
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def wanted(patterns: Sequence[str], event_type: str) -> bool:
    """Whether a subscription with these patterns gets an event of this type."""
    return not _excluded(event_type) and any(matches(p, event_type) for p in patterns)


def _excluded(prefix: str) -> bool:
    return any(prefix.startswith(x) for x in NOT_DELIVERED)
