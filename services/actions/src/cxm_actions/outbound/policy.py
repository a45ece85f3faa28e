"""What becomes of a delivery after an attempt, and when the next one is due: pure decisions."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from enum import Enum

BACKOFF_S = (5.0, 30.0, 120.0, 600.0, 3600.0, 3 * 3600.0, 6 * 3600.0, 12 * 3600.0)
"""Delay before attempt n+1 after n failed attempts (the last one repeats)."""
JITTER = 0.2
ERROR_LIMIT = 500


class Outcome(Enum):
    """The result of one attempt, as counted in the metrics."""

    DELIVERED = "delivered"
    RETRY = "retried"
    FAILED = "failed"
    GONE = "disabled"


def outcome(status_code: int | None, attempts: int, max_attempts: int) -> Outcome:
    """2xx delivers, 410 disables the subscription, anything else (or no answer) retries until the attempts run out."""
    if status_code is not None and 200 <= status_code < 300:
        return Outcome.DELIVERED
    if status_code == 410:
        return Outcome.GONE
    return Outcome.RETRY if attempts < max_attempts else Outcome.FAILED


def retry_delay(
    attempts: int,
    schedule: Sequence[float] = BACKOFF_S,
    jitter: float = JITTER,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after `attempts` failed attempts, spread by ±`jitter` so endpoints are not hit in waves."""
    base = schedule[min(max(attempts, 1), len(schedule)) - 1]
    return max(0.0, base * (1 + jitter * (2 * rand() - 1)))


def printable(text: str) -> str:
    """Text on one line without control characters (Postgres refuses NUL; logs are read by people)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def truncate(text: str, limit: int = ERROR_LIMIT) -> str:
    """At most `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
