"""The time-zone arithmetic a series statement is built from: which local day each UTC day and hour belongs to, and
how each local bucket start is written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cxm_insight.series import DAY, HOUR, SeriesQuery, day_maps, local_day, start_labels

ZONES = [
    "UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "America/Los_Angeles",
    "Australia/Lord_Howe", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham", "Pacific/Kiritimati",
    "Pacific/Pago_Pago", "America/Santiago", "Africa/Casablanca", "Europe/Dublin",
]  # fmt: skip


def hour_by_hour(first: datetime, last: datetime, tz: ZoneInfo) -> tuple[list[datetime], set[tuple[datetime, ...]]]:
    """The same maps, one zone lookup per hour: each UTC day's local day at noon, and each hour elsewhere."""
    credited, moved = [], set()
    day = first
    while day < last:
        noon = local_day(day + 12 * HOUR, tz)
        credited.append(noon)
        for h in range(24):
            found = local_day(day + h * HOUR, tz)
            if found != noon:
                moved.add((day + h * HOUR, found, noon))
        day += DAY
    return credited, moved


@pytest.mark.parametrize("name", ZONES)
def test_day_maps_move_exactly_the_hours_of_another_local_day(name: str) -> None:
    tz = ZoneInfo(name)
    for first, days in ((datetime(2025, 1, 1, tzinfo=UTC), 366), (datetime(1983, 3, 1, tzinfo=UTC), 300)):
        last = first + days * DAY
        locals_, hours, to_local, from_local = day_maps(first, last, tz)
        credited, moved = hour_by_hour(first, last, tz)
        assert locals_ == credited
        assert len(hours) == len(moved)
        assert set(zip(hours, to_local, from_local, strict=True)) == moved


@pytest.mark.parametrize("name", ZONES)
@pytest.mark.parametrize("interval", ["hour", "day", "week"])
def test_each_bucket_start_is_written_as_python_writes_it_in_that_zone(name: str, interval: str) -> None:
    tz = ZoneInfo(name)
    since = datetime(2025, 3, 1, 5, 30, tzinfo=UTC)
    until = since + (timedelta(days=93) if interval == "hour" else timedelta(days=400))
    starts, labels = start_labels(SeriesQuery("nps", since, until, interval, name, None))
    assert labels == [s.replace(tzinfo=tz).isoformat() for s in starts]
    moments = [since + i * HOUR for i in range(int((until - since) / HOUR))]
    buckets = {local_day(m, tz) for m in moments} if interval != "hour" else {
        m.astimezone(tz).replace(tzinfo=None, minute=0) for m in moments
    }  # fmt: skip
    if interval == "week":
        buckets = {b - b.weekday() * DAY for b in buckets}
    assert buckets <= set(starts)


def test_offsets_with_seconds_are_written_in_full() -> None:
    starts, labels = start_labels(SeriesQuery("nps", datetime(1890, 6, 1, tzinfo=UTC), datetime(1890, 6, 3, tzinfo=UTC),
                                              "day", "Europe/Amsterdam", None))  # fmt: skip
    assert labels[1] == "1890-06-01T00:00:00+00:19:32"
    assert labels == [s.replace(tzinfo=ZoneInfo("Europe/Amsterdam")).isoformat() for s in starts]
