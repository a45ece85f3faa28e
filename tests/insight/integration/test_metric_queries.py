"""Day and week series read UTC days and move the hours that belong to a neighbouring local day: the result is
exactly what summing every hourly bucket by local day gives, in any time zone, across DST changes."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from cxm_common.db import create_engine, driver, set_tenant
from cxm_common.migrations import upgrade
from cxm_insight.domain.metrics import Tally
from cxm_insight.projections import _write_buckets, hour
from cxm_insight.series import SeriesQuery, series
from cxm_insight.service import SPEC

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "America/Los_Angeles"]


@pytest.fixture
async def engine(database_url: str):  # type: ignore[no-untyped-def]
    await upgrade(database_url, SPEC.name, SPEC.migrations)
    engine = create_engine(database_url, SPEC.schema)
    yield engine
    await engine.dispose()


async def test_day_series_equal_hourly_sums_in_every_time_zone(engine) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    tenant = uuid.uuid4()
    start = datetime(2026, 2, 20, tzinfo=UTC)
    hourly: dict[tuple[str, str, datetime], Tally] = {}
    for _ in range(1500):
        moment = hour(start + timedelta(hours=rng.randrange(0, 24 * 70)))
        key = rng.choice(["billing", "delivery"])
        one = Tally.from_feedback(nps=rng.randrange(0, 11), sentiment_score=0.0, sentiment_label="neutral")
        for dim_key in (("all", "all"), ("topic", key)):
            slot = (*dim_key, moment)
            hourly[slot] = hourly.get(slot, Tally()).add(one)
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        await _write_buckets(await driver(conn), tenant, hourly)
    since, until = start + timedelta(hours=7), start + timedelta(days=65, hours=3)
    for name in ZONES:
        tz = ZoneInfo(name)
        for interval in ("day", "week"):
            expected: dict[tuple[str, str], Tally] = {}
            for (dim, key, moment), t in hourly.items():
                if dim != "topic" or not since <= moment < until:
                    continue
                local = moment.astimezone(tz).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
                if interval == "week":
                    local -= timedelta(days=local.weekday())
                slot = (key, local.replace(tzinfo=tz).isoformat())
                expected[slot] = expected.get(slot, Tally()).add(t)
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                got = orjson.loads(await series(conn, tenant, SeriesQuery("nps", since, until, interval, name, "topic")))
            found = {(s["key"], p["start"]): (p["n"], p["value"]) for s in got["series"] for p in s["points"]}
            wanted = {k: (t.nps_n, round(t.value("nps") or 0.0, 3)) for k, t in expected.items()}
            assert found == wanted, (name, interval)
