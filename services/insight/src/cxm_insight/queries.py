"""Insight's read side: analyses, metric series from buckets, themes, alerts, objectives."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.crypto import KeyRing, unseal
from cxm_common.db import driver
from cxm_insight.domain.metrics import DEFINITION_VERSION, Tally
from cxm_insight.projections import TALLY_COLUMNS

INTERVALS = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
# The longest period each interval may span in one query (keeps a response bounded).
MAX_SPAN = {"hour": timedelta(days=93), "day": timedelta(days=3 * 366), "week": timedelta(days=10 * 366)}
GROUPS = ("channel", "source", "topic", "segment", "agent", "team", "intent", "touchpoint")


async def open_sections(conn: AsyncConnection, keyring: KeyRing, sections: list[Any]) -> list[dict[str, Any]]:
    """Open sealed `_pii` sections (as stored in read models) into their fields; {} where erased or absent."""
    parsed = [orjson.loads(s) if isinstance(s, str) else s for s in sections]
    subjects = {uuid.UUID(p["subject"]) for p in parsed if p}
    keys = await keyring.keys(conn, None, subjects, create=False) if subjects else {}
    opened = []
    for section in parsed:
        if not section:
            opened.append({})
            continue
        subject = uuid.UUID(section["subject"])
        key = keys.get(subject)
        if key is None:
            opened.append({})
            continue
        opened.append({name: unseal(key, token, subject) for name, token in section["fields"].items()})
    return opened


async def analysis(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, feedback_id: uuid.UUID
) -> dict[str, Any] | None:
    """One feedback's latest analysis, with its redacted text."""
    row = await (await driver(conn)).fetchrow(
        "SELECT feedback_id, customer_id, channel, source, touchpoint, occurred_at, analyzed_at, nps, csat, ces, "
        "result::text AS result, model_version, taxonomy_version, revision, pii::text AS pii "
        "FROM analyses WHERE tenant_id = $1 AND feedback_id = $2",
        tenant, feedback_id,
    )  # fmt: skip
    if row is None:
        return None
    [private] = await open_sections(conn, keyring, [row["pii"]])
    return analysis_out(row, orjson.loads(row["result"]), private)


def analysis_out(row: Any, result: dict[str, Any], private: dict[str, Any]) -> dict[str, Any]:
    """The public shape of an analysis."""
    evidence = private.get("evidence") or {}
    topics = [{**t, "evidence": evidence.get(t["topic"])} for t in result.get("topics") or []]
    return {
        "feedback_id": row["feedback_id"],
        "customer_id": row["customer_id"],
        "channel": row["channel"],
        "source": row["source"],
        "touchpoint": row["touchpoint"],
        "occurred_at": row["occurred_at"],
        "analyzed_at": row["analyzed_at"],
        "redacted_text": private.get("text"),
        "redactions": result.get("redactions") or {},
        "sentiment": result["sentiment"],
        "emotions": result.get("emotions") or {},
        "intent": result["intent"],
        "intent_scores": result.get("intent_scores") or {},
        "urgency": {"level": result["urgency"], "reason": result.get("urgency_reason")},
        "topics": topics,
        "scores": {"nps": row["nps"], "csat": row["csat"], "ces": row["ces"]},
        "model_version": row["model_version"],
        "taxonomy_version": row["taxonomy_version"],
        "tenant_model_version": result.get("tenant_model_version"),
        "revision": row["revision"],
    }


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


_SUMS = ", ".join(f"sum({col})::{'float8' if col.endswith('_sum') else 'int8'} AS {col}" for col in TALLY_COLUMNS)
_COLS = ", ".join(TALLY_COLUMNS)
_B_COLS = ", ".join(f"b.{col}" for col in TALLY_COLUMNS)
_D_COLS = ", ".join(f"d.{col}" for col in TALLY_COLUMNS)
_B_SUMS = ", ".join(f"sum(b.{col}) AS {col}" for col in TALLY_COLUMNS)
_SIGNED = ", ".join(f"v.sign * c.{col} AS {col}" for col in TALLY_COLUMNS)
DAY = timedelta(days=1)


def utc_midnight(moment: datetime, *, up: bool) -> datetime:
    """The UTC midnight at or after (`up`) or at or before a moment."""
    floor = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return floor + DAY if up and floor < moment else floor


def day_maps(
    first: datetime, last: datetime, tz: ZoneInfo
) -> tuple[list[date], list[datetime], list[datetime], list[datetime], list[datetime]]:
    """For whole UTC days in [first, last): each day's local day (that of its noon), and the hours that fall on
    another local day than their UTC day's, with the local day they belong to and the one their day was credited to.
    """
    days, locals_, hours, to_local, from_local = [], [], [], [], []
    day = first
    while day < last:
        credited = _local_day(day + timedelta(hours=12), tz)
        days.append(day.date())
        locals_.append(credited)
        start, end = day.astimezone(tz).utcoffset(), (day + DAY - timedelta(hours=1)).astimezone(tz).utcoffset()
        for h in range(24):
            moment = day + timedelta(hours=h)
            if start == end and start is not None:
                # No clock change today: the local day follows from the offset without a zone lookup.
                actual = (moment + start).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
            else:
                actual = _local_day(moment, tz)
            if actual != credited:
                hours.append(moment)
                to_local.append(actual)
                from_local.append(credited)
        day += DAY
    return days, locals_, hours, to_local, from_local


def _local_day(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)


def series_sql(q: SeriesQuery) -> tuple[str, list[Any]]:
    """The statement and arguments of a series: hourly buckets, or UTC days plus the hours to move between days.

    Time-zone arithmetic is done here, in Python, once per day of the period: the statement only joins and sums.
    """
    dim = q.group_by or "all"
    keys = "AND b.key = ANY($5::text[])" if q.keys else ""
    args: list[Any] = [dim, q.tz, q.since, q.until, list(q.keys)] if q.keys else [dim, q.tz, q.since, q.until]
    first, last = utc_midnight(q.since, up=True), utc_midnight(q.until, up=False)
    if q.interval == "hour" or first >= last:
        inner = (
            f"SELECT date_trunc('{q.interval if q.interval == 'hour' else 'day'}', b.bucket AT TIME ZONE $2) AS local, "
            f"b.key, {_B_COLS} FROM metric_buckets b "
            f"WHERE b.tenant_id = $T AND b.dim = $1 AND b.bucket >= $3 AND b.bucket < $4 {keys}"
        )
    else:
        n = len(args)
        days, locals_, hours, to_local, from_local = day_maps(first, last, zone(q.tz))
        args += [first, last, days, locals_, hours, to_local, from_local]
        f, la, dd, dl, hb, ht, hf = (f"${n + i}" for i in range(1, 8))
        inner = f"""
            SELECT m.local, d.key, {_D_COLS}
            FROM metric_days d JOIN unnest({dd}::date[], {dl}::timestamp[]) AS m(day, local) ON m.day = d.day
            WHERE d.tenant_id = $T AND d.dim = $1 AND d.day = ANY({dd}::date[]) {keys.replace("b.key", "d.key")}
            UNION ALL
            SELECT date_trunc('day', b.bucket AT TIME ZONE $2), b.key, {_B_COLS}
            FROM metric_buckets b WHERE b.tenant_id = $T AND b.dim = $1 {keys}
            AND ((b.bucket >= $3 AND b.bucket < {f}) OR (b.bucket >= {la} AND b.bucket < $4))
            UNION ALL
            SELECT v.local, c.key, {_SIGNED}
            FROM (
                SELECT m.to_local, m.from_local, b.key, {_B_SUMS}
                FROM metric_buckets b
                JOIN unnest({hb}::timestamptz[], {ht}::timestamp[], {hf}::timestamp[])
                  AS m(bucket, to_local, from_local) ON m.bucket = b.bucket
                WHERE b.tenant_id = $T AND b.dim = $1 AND b.bucket = ANY({hb}::timestamptz[]) {keys}
                GROUP BY 1, 2, 3
            ) AS c, LATERAL (VALUES (c.to_local, 1), (c.from_local, -1)) AS v(local, sign)
        """
    n = len(args) + 1
    args.append(q.interval)
    # One pass gives each point and, in the rows whose `local` is null, each key's total over the period.
    sql = (
        f"SELECT date_trunc(${n}, x.local) AS local, x.key, {_SUMS} FROM ({inner}) AS x "
        f"GROUP BY GROUPING SETS ((date_trunc(${n}, x.local), x.key), (x.key)) ORDER BY 2, 1 NULLS FIRST"
    )
    return sql, args


async def series(conn: AsyncConnection, tenant: uuid.UUID, q: SeriesQuery) -> dict[str, Any]:
    """A metric's series from the buckets, bucketed in the caller's time zone."""
    check_series(q)
    sql, args = series_sql(q)
    n = len(args) + 1
    rows = await (await driver(conn)).fetch(sql.replace("$T", f"${n}"), *args, tenant)
    tz = zone(q.tz)
    groups: dict[str, list[dict[str, Any]]] = {}
    totals: dict[str, Tally] = {}
    width = len(TALLY_COLUMNS)
    for row in rows:
        tally = Tally(*(row[i] for i in range(2, 2 + width)))
        key = row["key"]
        if row["local"] is None:
            totals[key] = tally
            continue
        if tally.count == 0:
            continue
        groups.setdefault(key, []).append(
            {
                "start": row["local"].replace(tzinfo=tz).isoformat(),
                "value": _round(tally.value(q.metric)),
                "n": tally.base(q.metric),
                "count": tally.count,
            }
        )
    out = [
        {"key": key, "value": _round(totals[key].value(q.metric)), "n": totals[key].base(q.metric),
         "count": totals[key].count, "points": points}
        for key, points in groups.items()
    ]  # fmt: skip
    out.sort(key=lambda s: -int(s["count"]))
    return {
        "metric": q.metric,
        "interval": q.interval,
        "tz": q.tz,
        "group_by": q.group_by,
        "from": q.since,
        "to": q.until,
        "definition_version": DEFINITION_VERSION,
        "series": out,
    }


async def tallies(
    conn: AsyncConnection, tenant: uuid.UUID, dim: str, since: datetime, until: datetime
) -> dict[str, Tally]:
    """Per key of a dimension, the tally over a period (hour-aligned): whole UTC days from the days, edges by hour."""
    first, last = utc_midnight(since, up=True), utc_midnight(until, up=False)
    if first >= last:
        first = last = since
    rows = await (await driver(conn)).fetch(
        f"SELECT key, {_SUMS} FROM ("
        f"SELECT key, {_COLS} FROM metric_days WHERE tenant_id = $1 AND dim = $2 AND day >= $5 AND day < $6 "
        f"UNION ALL SELECT key, {_COLS} FROM metric_buckets WHERE tenant_id = $1 AND dim = $2 "
        "AND ((bucket >= $3 AND bucket < $7) OR (bucket >= $8 AND bucket < $4))) AS x GROUP BY key",
        tenant, dim, since, until, first.date(), last.date(), first, last,
    )  # fmt: skip
    return {r["key"]: Tally(*(r[i] for i in range(1, 1 + len(TALLY_COLUMNS)))) for r in rows}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


async def alerts(conn: AsyncConnection, tenant: uuid.UUID, status: str | None, limit: int) -> list[dict[str, Any]]:
    """Alerts, newest first."""
    rows = await (await driver(conn)).fetch(
        "SELECT id, kind, key, status, severity, raised_at, updated_at, evidence::text AS evidence FROM alerts "
        "WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY raised_at DESC, id LIMIT $3",
        tenant, status, limit,
    )  # fmt: skip
    return [{**dict(r), "evidence": orjson.loads(r["evidence"])} for r in rows]


async def discovered_themes(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, status: str | None
) -> list[Any]:
    """Discovered themes with their top terms and example texts (redacted)."""
    pg = await driver(conn)
    rows = await pg.fetch(
        "SELECT id, key, status, size, top_terms, example_ids, cohesion, discovered_at, topic_id FROM themes "
        "WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY discovered_at DESC LIMIT 100",
        tenant, status,
    )  # fmt: skip
    example_ids = list({i for r in rows for i in r["example_ids"]})
    texts = await redacted_texts(conn, keyring, tenant, example_ids)
    return [
        {
            "id": r["id"], "key": r["key"], "status": r["status"], "size": r["size"], "top_terms": list(r["top_terms"]),
            "examples": [{"feedback_id": i, "text": texts.get(i)} for i in r["example_ids"] if texts.get(i)],
            "cohesion": r["cohesion"], "discovered_at": r["discovered_at"], "topic_id": r["topic_id"],
        }
        for r in rows
    ]  # fmt: skip


async def redacted_texts(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The redacted texts of some feedback (those whose customer was erased are absent)."""
    if not ids:
        return {}
    rows = await (await driver(conn)).fetch(
        "SELECT feedback_id, pii::text AS pii FROM analyses WHERE tenant_id = $1 AND feedback_id = ANY($2::uuid[])",
        tenant, ids,
    )  # fmt: skip
    opened = await open_sections(conn, keyring, [r["pii"] for r in rows])
    return {r["feedback_id"]: o["text"] for r, o in zip(rows, opened, strict=True) if o.get("text")}
