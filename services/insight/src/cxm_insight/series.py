"""Metric series: tallies summed into the caller's local buckets, and the JSON answer written by the statement."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.db import driver
from cxm_insight.domain.metrics import DEFINITION_VERSION

INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
# The longest period each interval may span in one query (keeps a response bounded).
MAX_SPAN = {"hour": timedelta(days=93), "day": timedelta(days=3 * 366), "week": timedelta(days=10 * 366)}
GROUPS = ("channel", "source", "topic", "segment", "agent", "team", "intent", "touchpoint")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A metric over time: which metric, when, how bucketed, in which time zone, grouped by what."""

    metric: str
    since: datetime
    until: datetime
    interval: str
    tz: str
    group_by: str | None
    keys: tuple[str, ...] = ()


def check_series(q: SeriesQuery) -> None:
    """Refuse a query that cannot be answered (ValueError with the reason)."""
    if q.metric not in _VALUES:
        raise ValueError(f"metric must be one of {', '.join(_VALUES)}")
    if q.interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
    if q.group_by is not None and q.group_by not in GROUPS:
        raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")
    if q.until <= q.since:
        raise ValueError("`to` must be after `from`")
    if q.until - q.since > MAX_SPAN[q.interval]:
        raise ValueError(f"a {q.interval} series spans at most {MAX_SPAN[q.interval].days} days; use a longer interval")
    zone(q.tz)


def zone(name: str) -> ZoneInfo:
    """An IANA time zone (ValueError if unknown)."""
    try:
        return ZoneInfo(name)
    except Exception as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from exc


def utc_midnight(moment: datetime, *, up: bool) -> datetime:
    """The UTC midnight at or after (`up`) or at or before a moment."""
    floor = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return floor + DAY if up and floor < moment else floor


def local_day(moment: datetime, tz: ZoneInfo) -> datetime:
    """The local midnight (naive) of the day a moment falls on in a zone."""
    return moment.astimezone(tz).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)


@cache
def _day_shifts(offset: timedelta) -> tuple[timedelta, tuple[tuple[timedelta, timedelta], ...]]:
    """For a UTC day wholly at one offset: how far its credited local day is from it (that of its noon), and each
    hour whose local day is another one, with how far that day is."""

    def shift(h: int) -> timedelta:
        moment = datetime(2000, 1, 1) + h * HOUR + offset
        return moment.replace(hour=0, minute=0, second=0, microsecond=0) - datetime(2000, 1, 1)

    credited = shift(12)
    return credited, tuple((h * HOUR, shift(h)) for h in range(24) if shift(h) != credited)


def day_maps(
    first: datetime, last: datetime, tz: ZoneInfo
) -> tuple[list[datetime], list[datetime], list[datetime], list[datetime]]:
    """For whole UTC days in [first, last): each day's local day (that of its noon), and the hours that fall on
    another local day than their UTC day's, with the local day they belong to and the one their day was credited to.
    """
    locals_, hours, to_local, from_local = [], [], [], []
    day = first
    start = day.astimezone(tz).utcoffset()
    while day < last:
        following = day + DAY
        end = following.astimezone(tz).utcoffset()
        naive = day.replace(tzinfo=None)
        if start == end and start is not None:
            # No clock change today: which hours move follows from the offset alone, without a zone lookup per hour.
            shift, moved = _day_shifts(start)
            credited = naive + shift
            for since_midnight, actual in moved:
                hours.append(day + since_midnight)
                to_local.append(naive + actual)
                from_local.append(credited)
        else:
            credited = local_day(day + 12 * HOUR, tz)
            for h in range(24):
                moment = day + h * HOUR
                found = local_day(moment, tz)
                if found != credited:
                    hours.append(moment)
                    to_local.append(found)
                    from_local.append(credited)
        locals_.append(credited)
        day, start = following, end
    return locals_, hours, to_local, from_local


@cache
def _offset_text(offset: timedelta) -> str:
    """An offset as `isoformat` ends an aware time with it: +01:00, -03:30, +00:09:21."""
    return datetime(2000, 1, 1, tzinfo=timezone(offset)).isoformat()[19:]


def start_labels(q: SeriesQuery) -> tuple[list[datetime], list[str]]:
    """Each local bucket start the series may have (a day of margin each side), written as the answer writes it:
    ISO 8601 with the offset the zone has at that local time (the earlier one where a local time repeats)."""
    tz = zone(q.tz)
    first, last = local_day(q.since, tz) - DAY, local_day(q.until, tz) + DAY
    if q.interval == "week":
        first -= first.weekday() * DAY
    step = INTERVALS[q.interval]
    starts = [first + i * step for i in range((last - first) // step + 1)]
    # `tz.utcoffset` of a naive time reads it as local (fold 0), as `replace(tzinfo=tz)` does, without a new object.
    return starts, [f"{s.isoformat()}{_offset_text(tz.utcoffset(s))}" for s in starts]


# Each metric as `Tally.value` computes it from the sums (the same float operations, in the same order):
# (scale, column added, column subtracted, denominator). Volume is the count itself.
_VALUES: dict[str, tuple[int | None, str, str | None, str]] = {
    "nps": (100, "promoters", "detractors", "nps_n"),
    "csat": (100, "csat_sat", None, "csat_n"),
    "ces": (None, "ces_sum", None, "ces_n"),
    "ces_easy": (100, "ces_easy", None, "ces_n"),
    "sentiment": (None, "sent_sum", None, "sent_n"),
    "negative_share": (100, "negative", None, "sent_n"),
    "positive_share": (100, "positive", None, "sent_n"),
    "volume": (None, "count", None, "count"),
}


def _columns(metric: str) -> tuple[str, ...]:
    """The tally columns a metric's value, base and count are computed from."""
    _, plus, minus, base = _VALUES[metric]
    return tuple(dict.fromkeys(c for c in ("count", base, plus, minus) if c))


def _sum(col: str) -> str:
    """SQL for a column's sum over a group of `x`, typed as `Tally` holds it."""
    return f"sum(x.{col})::{'float8' if col.endswith('_sum') else 'int8'}"


def _value(metric: str) -> str:
    """SQL for the metric's value over the rows of a group of `x` (null where its base is not positive)."""
    scale, plus, minus, base = _VALUES[metric]
    if metric == "volume":
        return f"{_sum('count')}::float8"
    numerator = _sum(plus) if minus is None else f"({_sum(plus)} - {_sum(minus)})"
    if scale is not None:
        numerator = f"({scale} * {numerator})"
    return f"CASE WHEN {_sum(base)} > 0 THEN {numerator}::float8 / {_sum(base)}::float8 END"


_TWO_72 = 2**72
_TWO_40 = 2**40


def rounded(v: str) -> str:
    """SQL for the float8 `v` rounded to 3 decimals exactly as Python's `round(v, 3)` does.

    Python rounds the exact binary value half to even. Away from a midpoint (all but a few values in millions),
    rounding `v * 1000` is the same thing; within 1e-6 of one, the exact value is taken apart as an integer times
    2^-72 (exact for |v| ≥ 2^-20, and smaller values are nowhere near a midpoint) and rounded in numeric.
    """
    y = f"({v} * 1000::float8)"
    scaled = f"(abs({v}) * {_TWO_72}::float8)"
    high = f"floor({scaled} / {_TWO_40}::float8)"
    exact_int = f"({high}::int8::numeric * {_TWO_40} + ({scaled} - {high} * {_TWO_40}::float8)::int8)"
    q, rem = f"div({exact_int} * 1000, {_TWO_72})", f"mod({exact_int} * 1000, {_TWO_72})"
    exact = (
        f"(sign({v})::numeric * ({q} + CASE WHEN 2 * {rem} > {_TWO_72} THEN 1 WHEN 2 * {rem} < {_TWO_72} THEN 0 "
        f"ELSE mod({q}, 2) END))::float8"
    )
    return f"(CASE WHEN abs({y} - floor({y}) - 0.5::float8) > 1e-6::float8 THEN round({y}) ELSE {exact} END) / 1000"


def json_number(r: str, v: str) -> str:
    """SQL writing `r`, the float8 `v` rounded by `rounded`, as orjson writes it (null, `-0.0`, `12.0`, `12.346`).

    Both should be columns: every mention of an expression here evaluates it again.
    """
    return (
        f"CASE WHEN {r} IS NULL THEN 'null' WHEN {r} <> trunc({r}) THEN {r}::text "
        f"WHEN {r} = 0 AND {v} < 0 THEN '-0.0' ELSE {r}::int8::text || '.0' END"
    )


def _local_tallies(q: SeriesQuery, columns: tuple[str, ...], args: list[Any]) -> str:
    """A select of (local, key, columns…): hourly buckets, or UTC days plus the hours to move between days.

    Time-zone arithmetic is done here, in Python, once per day of the period: the statement only joins and sums.
    """
    dim = q.group_by or "all"
    args += [dim, q.tz, q.since, q.until]
    keys = ""
    if q.keys:
        args.append(list(q.keys))
        keys = f"AND b.key = ANY(${len(args)}::text[])"
    b_cols = ", ".join(f"b.{c}" for c in columns)
    first, last = utc_midnight(q.since, up=True), utc_midnight(q.until, up=False)
    if q.interval == "hour" or first >= last:
        return (
            f"SELECT date_trunc('{q.interval if q.interval == 'hour' else 'day'}', b.bucket AT TIME ZONE $3) AS local, "
            f"b.key, {b_cols} FROM metric_buckets b "
            f"WHERE b.tenant_id = $1 AND b.dim = $2 AND b.bucket >= $4 AND b.bucket < $5 {keys}"
        )
    n = len(args)
    locals_, hours, to_local, from_local = day_maps(first, last, zone(q.tz))
    args += [first, last, first.date(), last.date(), locals_, hours, to_local, from_local]
    f, la, fd, ld, dl, hb, ht, hf = (f"${n + i}" for i in range(1, 9))
    d_cols = ", ".join(f"d.{c}" for c in columns)
    # A UTC day's moved hours of one key sum to no more than its day, which an integer column holds: summed as
    # integers (not bigint, whose sums are numeric), the outer sums stay cheap.
    b_sums = ", ".join(f"sum(b.{c}){'' if c.endswith('_sum') else '::int4'} AS {c}" for c in columns)
    signed = ", ".join(f"v.sign * c.{c} AS {c}" for c in columns)
    # The days' local days are looked up by position ([first, last) is contiguous); the moved hours are fetched
    # one by one through the index, which is cheaper to plan and run than matching them against an array.
    return f"""
        SELECT ({dl}::timestamp[])[d.day - {fd}::date + 1] AS local, d.key, {d_cols}
        FROM metric_days d
        WHERE d.tenant_id = $1 AND d.dim = $2 AND d.day >= {fd}::date AND d.day < {ld}::date
        {keys.replace("b.key", "d.key")}
        UNION ALL
        SELECT date_trunc('day', b.bucket AT TIME ZONE $3), b.key, {b_cols}
        FROM metric_buckets b WHERE b.tenant_id = $1 AND b.dim = $2 {keys}
        AND ((b.bucket >= $4 AND b.bucket < {f}) OR (b.bucket >= {la} AND b.bucket < $5))
        UNION ALL
        SELECT v.local, c.key, {signed}
        FROM (
            SELECT m.to_local, m.from_local, b.key COLLATE "C" AS key, {b_sums}
            FROM unnest({hb}::timestamptz[], {ht}::timestamp[], {hf}::timestamp[]) AS m(bucket, to_local, from_local)
            CROSS JOIN LATERAL (
                SELECT b.key, {b_cols} FROM metric_buckets b
                WHERE b.tenant_id = $1 AND b.dim = $2 AND b.bucket = m.bucket {keys} OFFSET 0
            ) AS b
            GROUP BY 1, 2, 3
        ) AS c, LATERAL (VALUES (c.to_local, 1), (c.from_local, -1)) AS v(local, sign)
    """


def series_sql(q: SeriesQuery, tenant: uuid.UUID) -> tuple[str, list[Any]]:
    """The statement and arguments answering a series: the JSON of its groups (heaviest first), UTF-8 bytes."""
    columns = _columns(q.metric)
    base = _VALUES[q.metric][3]
    args: list[Any] = [tenant]
    inner = _local_tallies(q, columns, args)
    starts, labels = start_labels(q)
    # Each point's JSON up to its value, in a JSON array read by position: no join, and one text to send.
    args += [starts[0].date(), orjson.dumps([f'{{"start":"{label}","value":' for label in labels]).decode()]
    n = len(args)
    st, lb = f"${n - 1}", f"${n}"
    # Hour and day buckets are already cut by the select of local tallies; weeks start on the Monday of their days.
    local = "date_trunc('week', x.local)" if q.interval == "week" else "x.local"
    position = f"(r.local::date - {st}::date)"
    if q.interval == "week":
        position = f"({position} / 7)"
    elif q.interval == "hour":
        position = f"({position} * 24 + date_part('hour', r.local)::int)"
    sums = ", ".join(f"{_sum(c)} AS {c}" for c in dict.fromkeys(("count", base)))
    # One pass sums each point and, in the rows whose `local` is null, each key's total over the period. Keys are
    # grouped and sorted byte-wise ("C"); only the groups' final order uses the database's collation. A start
    # without a label (Postgres placing an hour where Python's zone data does not) is still written, offset aside.
    return (
        f"""
        WITH g AS (
            SELECT x.key COLLATE "C" AS key, {local} AS local, {sums}, {_value(q.metric)} AS v
            FROM ({inner}) AS x
            GROUP BY GROUPING SETS ((1, 2), (1))
        ),
        r AS (SELECT g.*, {rounded("g.v")} AS r FROM g OFFSET 0),
        k AS (
            SELECT r.key,
                max(r.count) FILTER (WHERE r.local IS NULL) AS count,
                max('{{"key":' || to_json(r.key)::text || ',"value":' || {json_number("r.r", "r.v")} || ',"n":'
                    || r.{base} || ',"count":' || r.count || ',"points":[') FILTER (WHERE r.local IS NULL) AS head,
                string_agg(
                    coalesce(
                        CASE WHEN {position} >= 0 THEN {lb}::jsonb ->> {position} END,
                        '{{"start":"' || to_char(r.local, 'YYYY-MM-DD"T"HH24:MI:SS') || '","value":'
                    )
                    || {json_number("r.r", "r.v")} || ',"n":' || r.{base} || ',"count":' || r.count || '}}',
                    ',' ORDER BY r.local
                ) FILTER (WHERE r.local IS NOT NULL AND r.count <> 0) AS points
            FROM r
            GROUP BY r.key
        )
        SELECT convert_to(coalesce(
            string_agg(k.head || k.points || ']}}', ',' ORDER BY k.count DESC, k.key COLLATE "default"), ''
        ), 'UTF8')
        FROM k WHERE k.points IS NOT NULL
        """,
        args,
    )


async def series(conn: AsyncConnection, tenant: uuid.UUID, q: SeriesQuery) -> bytes:
    """A metric's series from the buckets, bucketed in the caller's time zone, as the JSON document to answer."""
    check_series(q)
    sql, args = series_sql(q, tenant)
    groups: bytes = await (await driver(conn)).fetchval(sql, *args)
    head = orjson.dumps(
        {
            "metric": q.metric,
            "interval": q.interval,
            "tz": q.tz,
            "group_by": q.group_by,
            "from": q.since,
            "to": q.until,
            "definition_version": DEFINITION_VERSION,
        }
    )
    return b"".join((head[:-1], b',"series":[', groups, b"]}"))
