"""Day and week series read UTC days and move the hours that belong to a neighbouring local day: the result is
exactly what summing every hourly bucket by local day gives, in any time zone, across DST changes. The statement
writes the answer's JSON itself: byte for byte what the service wrote when it built the answer in Python."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from cxm_common.db import create_engine, driver, set_tenant
from cxm_common.migrations import upgrade
from cxm_insight.domain.metrics import DEFINITION_VERSION, METRICS, Tally
from cxm_insight.projections import TALLY_COLUMNS, _write_buckets, hour
from cxm_insight.series import SeriesQuery, day_maps, json_number, rounded, series, utc_midnight, zone
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
                q = SeriesQuery("nps", since, until, interval, name, "topic")
                got = orjson.loads(await series(conn, tenant, q))
            found = {(s["key"], p["start"]): (p["n"], p["value"]) for s in got["series"] for p in s["points"]}
            wanted = {k: (t.nps_n, round(t.value("nps") or 0.0, 3)) for k, t in expected.items()}
            assert found == wanted, (name, interval)


def doubles() -> list[float | None]:
    """Values to round: ratios of small counts, exact ties at the third decimal, their neighbours, -0.0004, null."""
    rng = random.Random(5)
    values: list[float | None] = [0.0, -0.0004, 0.0004, 0.0625, -0.0625, 2.675, 1.5625, -100.0, 1e6, None]
    values += [100 * a / n for n in (7, 64, 2000, 3200, 400_000) for a in range(-n, n, max(1, n // 499))]
    values += [rng.uniform(-100, 100) for _ in range(5000)] + [rng.uniform(-1, 1) for _ in range(2000)]
    for tie in ((2 * c + 1) / 2000 for c in range(-100_000, 100_000, 97)):
        values += [tie, math.nextafter(tie, math.inf), math.nextafter(tie, -math.inf)]
    return values


async def test_values_are_rounded_and_written_as_python_rounds_and_orjson_writes_them(engine) -> None:  # type: ignore[no-untyped-def]
    values = doubles()
    async with engine.connect() as conn:
        rows = await (await driver(conn)).fetch(
            f"SELECT {json_number('r', 'v')} FROM (SELECT i, v, {rounded('v')} AS r "
            "FROM unnest($1::float8[]) WITH ORDINALITY AS u(v, i) OFFSET 0) AS s ORDER BY i",
            values,
        )
    wrong = [(v, row[0]) for v, row in zip(values, rows, strict=True) if row[0] != orjson.dumps(_round(v)).decode()]
    assert wrong == []


def tallies(rng: random.Random, feedback: int) -> Tally:
    """Some feedback's tally: every score kind, sentiment scores whose sums are exact in binary (any order adds up
    the same), and now and then exactly 64 NPS answers, whose NPS can end in a tie at the third decimal."""
    one = Tally()
    answers = 64 if rng.random() < 0.1 else rng.randrange(0, 12)
    for i in range(max(feedback, answers)):
        score = rng.choice([-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0])
        one = one.add(
            Tally.from_feedback(
                nps=rng.randrange(0, 11) if i < answers else None, csat=rng.choice([None, 1, 3, 4, 5]),
                ces=rng.choice([None, 1, 4, 5, 7]), sentiment_score=score if rng.random() < 0.8 else None,
            )
        )  # fmt: skip
    return one


async def test_the_answer_is_byte_for_byte_the_one_the_service_gave_before(engine) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(23)
    tenant = uuid.uuid4()
    start = datetime(2026, 2, 20, tzinfo=UTC)
    hourly: dict[tuple[str, str, datetime], Tally] = {}
    for _ in range(900):
        moment = hour(start + timedelta(hours=rng.randrange(0, 24 * 75)))
        one = tallies(rng, rng.randrange(1, 4))
        for slot in (("all", "all", moment), ("topic", rng.choice(["billing", "delivery", "wait_time"]), moment),
                     ("segment", rng.choice(["smb", 'the "big" ones \\ é\x01']), moment)):  # fmt: skip
            hourly[slot] = hourly.get(slot, Tally()).add(one)
    for twin in ("refunds", "pricing"):  # equal counts: ordered by key
        hourly[("topic", twin, start + timedelta(days=3))] = Tally.from_feedback(nps=9)
    gone = ("topic", "retired", start + timedelta(days=5))  # added then taken away: a zero row, no group
    async with engine.begin() as conn:
        await set_tenant(conn, tenant)
        await _write_buckets(await driver(conn), tenant, {**hourly, gone: Tally.from_feedback(nps=3)})
        await _write_buckets(await driver(conn), tenant, {gone: Tally().minus(Tally.from_feedback(nps=3))})
    periods = [
        (start + timedelta(hours=7), start + timedelta(days=65, hours=3)),
        (start + timedelta(days=40), start + timedelta(days=40, hours=20, minutes=30)),
    ]
    queries = []
    for name in ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland"):
        for interval in ("hour", "day", "week"):
            for since, until in periods:
                queries += [SeriesQuery(metric, since, until, interval, name, "topic") for metric in METRICS]
                queries += [
                    SeriesQuery("nps", since, until, interval, name, None),
                    SeriesQuery("sentiment", since, until, interval, name, "segment"),
                    SeriesQuery("csat", since, until, interval, name, "topic", ("delivery", "retired", "billing")),
                ]
    for q in queries:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            now = await series(conn, tenant, q)
            before = await previous_series(conn, tenant, q)
        assert now == orjson.dumps(before), q


# The answer as the service built it before the statement wrote the JSON: the tallies of every point and total as
# rows, and the document assembled in Python from `Tally`.

_COLUMNS = ", ".join(TALLY_COLUMNS)
_SUMS = ", ".join(f"sum({col})::{'float8' if col.endswith('_sum') else 'int8'} AS {col}" for col in TALLY_COLUMNS)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def previous_sql(q: SeriesQuery) -> tuple[str, list[Any]]:
    b_cols, d_cols = (", ".join(f"{t}.{c}" for c in TALLY_COLUMNS) for t in "bd")
    b_sums = ", ".join(f"sum(b.{col}) AS {col}" for col in TALLY_COLUMNS)
    signed = ", ".join(f"v.sign * c.{col} AS {col}" for col in TALLY_COLUMNS)
    keys = "AND b.key = ANY($5::text[])" if q.keys else ""
    args: list[Any] = [q.group_by or "all", q.tz, q.since, q.until, *([list(q.keys)] if q.keys else [])]
    first, last = utc_midnight(q.since, up=True), utc_midnight(q.until, up=False)
    if q.interval == "hour" or first >= last:
        inner = (
            f"SELECT date_trunc('{q.interval if q.interval == 'hour' else 'day'}', b.bucket AT TIME ZONE $2) AS local, "
            f"b.key, {b_cols} FROM metric_buckets b "
            f"WHERE b.tenant_id = $T AND b.dim = $1 AND b.bucket >= $3 AND b.bucket < $4 {keys}"
        )
    else:
        n = len(args)
        locals_, hours, to_local, from_local = day_maps(first, last, zone(q.tz))
        days = [(first + i * timedelta(days=1)).date() for i in range(len(locals_))]
        args += [first, last, days, locals_, hours, to_local, from_local]
        f, la, dd, dl, hb, ht, hf = (f"${n + i}" for i in range(1, 8))
        inner = f"""
            SELECT m.local, d.key, {d_cols}
            FROM metric_days d JOIN unnest({dd}::date[], {dl}::timestamp[]) AS m(day, local) ON m.day = d.day
            WHERE d.tenant_id = $T AND d.dim = $1 AND d.day = ANY({dd}::date[]) {keys.replace("b.key", "d.key")}
            UNION ALL
            SELECT date_trunc('day', b.bucket AT TIME ZONE $2), b.key, {b_cols}
            FROM metric_buckets b WHERE b.tenant_id = $T AND b.dim = $1 {keys}
            AND ((b.bucket >= $3 AND b.bucket < {f}) OR (b.bucket >= {la} AND b.bucket < $4))
            UNION ALL
            SELECT v.local, c.key, {signed}
            FROM (
                SELECT m.to_local, m.from_local, b.key, {b_sums}
                FROM metric_buckets b
                JOIN unnest({hb}::timestamptz[], {ht}::timestamp[], {hf}::timestamp[])
                  AS m(bucket, to_local, from_local) ON m.bucket = b.bucket
                WHERE b.tenant_id = $T AND b.dim = $1 AND b.bucket = ANY({hb}::timestamptz[]) {keys}
                GROUP BY 1, 2, 3
            ) AS c, LATERAL (VALUES (c.to_local, 1), (c.from_local, -1)) AS v(local, sign)
        """
    n = len(args) + 1
    args.append(q.interval)
    sql = (
        f"SELECT date_trunc(${n}, x.local) AS local, x.key, {_SUMS} FROM ({inner}) AS x "
        f"GROUP BY GROUPING SETS ((date_trunc(${n}, x.local), x.key), (x.key)) ORDER BY 2, 1 NULLS FIRST"
    )
    return sql, args


async def previous_series(conn: Any, tenant: uuid.UUID, q: SeriesQuery) -> dict[str, Any]:
    sql, args = previous_sql(q)
    rows = await (await driver(conn)).fetch(sql.replace("$T", f"${len(args) + 1}"), *args, tenant)
    tz = zone(q.tz)
    groups: dict[str, list[dict[str, Any]]] = {}
    totals: dict[str, Tally] = {}
    for row in rows:
        tally = Tally(*(row[i] for i in range(2, 2 + len(TALLY_COLUMNS))))
        if row["local"] is None:
            totals[row["key"]] = tally
        elif tally.count != 0:
            groups.setdefault(row["key"], []).append(
                {"start": row["local"].replace(tzinfo=tz).isoformat(), "value": _round(tally.value(q.metric)),
                 "n": tally.base(q.metric), "count": tally.count}
            )  # fmt: skip
    out = [
        {"key": key, "value": _round(totals[key].value(q.metric)), "n": totals[key].base(q.metric),
         "count": totals[key].count, "points": points}
        for key, points in groups.items()
    ]  # fmt: skip
    out.sort(key=lambda s: -int(s["count"]))
    return {"metric": q.metric, "interval": q.interval, "tz": q.tz, "group_by": q.group_by, "from": q.since,
            "to": q.until, "definition_version": DEFINITION_VERSION, "series": out}  # fmt: skip
