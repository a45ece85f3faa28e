"""Times and periods in query parameters: with a zone, in Postgres' range, in UTC; a bad one is a 422."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import HTTPException


def bounded(value: datetime | None, name: str) -> datetime | None:
    """A time with a time zone, between 1970 and 9999, in UTC (None stays None)."""
    if value is None:
        return None
    try:
        if value.tzinfo is None:
            raise ValueError
        utc = value.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise HTTPException(422, f"`{name}` must be a time with a time zone, after 1970.") from exc
    if not 1970 <= utc.year <= 9999:
        raise HTTPException(422, f"`{name}` must be a time with a time zone, after 1970.")
    return utc


def period(from_: datetime | None, to: datetime | None, default_days: int = 30) -> tuple[datetime, datetime]:
    """A [from, to) period; by default the last `default_days` days."""
    until = bounded(to, "to") or datetime.now(UTC)
    since = bounded(from_, "from") or until - timedelta(days=default_days)
    if until <= since:
        raise HTTPException(422, "`to` must be after `from`.")
    return since, until
