"""Insight's figures: analysis throughput on one core, metric query latency over a year of 1M feedback, and
end-to-end freshness (webhook 2xx → analysis readable, seen on the SSE stream) at a steady 100 feedback/s."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import nats
import numpy as np

from bench.harness import Context, Measurement, Scenario, Target, percentiles_ms, wait_until
from bench.scenarios.http import System, system
from cxm_common.auth import verify_token
from cxm_common.jetstream import durable_name, stream_name
from cxm_ingest.handlers import record_id
from cxm_insight.series import SeriesQuery, series_sql
from cxm_insight.service import SPEC as INSIGHT

ROOT = Path(__file__).resolve().parents[2]
BATCH = 64
"""Feedback analysed per call, as the consumer hands them over."""
ANALYZED = "insight.feedback.analyzed.v1"
NATS_PREFIX = "sys"
"""The subject prefix `system()` starts the services with."""

# --- the data -------------------------------------------------------------------------------------------------


def data_dir() -> Path:
    """$CXM_EVAL_DATA, else ../shared/data relative to the repository root (read in place, never copied)."""
    return Path(os.environ.get("CXM_EVAL_DATA") or ROOT.parent / "shared" / "data")


def airline_texts() -> list[str] | None:
    """The airline tweets' texts (evaluation only), or None when the file is absent."""
    path = data_dir() / "airline_sentiment_dev.csv"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f) if row.get("text")]


_OPENINGS = (
    "My refund", "The delivery", "Your support agent", "The checkout page", "My last invoice", "The mobile app",
    "Logging in", "The courier", "The new price", "Onboarding", "The chat bot", "My replacement order",
)  # fmt: skip
_MIDDLES = (
    "took three weeks and nobody answered my emails", "was quick and friendly, thank you",
    "keeps failing with an error", "charged me twice this month", "is confusing, I cannot find my address settings",
    "arrived damaged and late", "was great, I will recommend you to friends", "made me wait 40 minutes on the phone",
    "is far too expensive", "worked fine but the instructions were unclear", "was cancelled without any warning",
    "is much better since the update",
)  # fmt: skip
_ENDINGS = (
    "", " Call me back on 06 12 34 56 78.", " Order #{n}.", " Please fix it or I will cancel my subscription.",
    " You can reach me at jane.doe{n}@example.com.", " Really disappointed.", " Keep it up!",
)  # fmt: skip


def generated_texts(count: int, seed: int = 7) -> list[str]:
    """Varied CX feedback texts, some with an email or phone number to redact (used when the data is absent)."""
    rng = random.Random(seed)
    return [f"{rng.choice(_OPENINGS)} {rng.choice(_MIDDLES)}.{rng.choice(_ENDINGS).format(n=n)}" for n in range(count)]


def texts_and_origin(fallback_count: int = 3000) -> tuple[list[str], str]:
    """The airline texts when present, else generated ones; with a label saying which."""
    found = airline_texts()
    if found:
        return found, "airline tweets"
    return generated_texts(fallback_count), "generated CX texts (airline data absent)"


# --- 1. analysis throughput on one core ------------------------------------------------------------------------


def analyse_on_one_core(cpu: int, seconds: float, limit: int) -> dict[str, Any]:
    """In this process, pinned to `cpu`: redact and analyse texts in batches of 64 for `seconds` at most."""
    os.sched_setaffinity(0, {cpu})  # before the models load, so their thread pools see one CPU
    from cxm_insight.nlp.analysis import AnalysisInput
    from cxm_insight.nlp.analyzer import Analyzer
    from cxm_insight.nlp.redaction import redact
    from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY

    texts, origin = texts_and_origin()
    texts = texts[:limit]
    analyzer = Analyzer.load(threads=1)
    analyzer.analyze([AnalysisInput(t) for t in texts[:BATCH]], DEFAULT_TAXONOMY)  # warm-up: session, topic index
    done = 0
    redaction_s = 0.0
    cpu_start = time.process_time()
    start = time.perf_counter()
    while done < len(texts) and time.perf_counter() - start < seconds:
        batch = texts[done : done + BATCH]
        began = time.perf_counter()
        inputs = [AnalysisInput(redact(t).text) for t in batch]
        redaction_s += time.perf_counter() - began
        analyzer.analyze(inputs, DEFAULT_TAXONOMY)
        done += len(batch)
    elapsed = time.perf_counter() - start
    return {
        "items": done,
        "seconds": elapsed,
        "cpu_s": time.process_time() - cpu_start,
        "redaction_s": redaction_s,
        "origin": origin,
        "max_tokens": analyzer.encoder.max_tokens,
        "model_version": analyzer.model_version,
        "cpu": cpu,
    }


async def analysis_1core(ctx: Context) -> Measurement:
    """Feedback/s of one analyzer (threads=1) in a subprocess pinned to one CPU, redaction included."""
    cpu = max(os.sched_getaffinity(0))
    seconds = ctx.budget.steady_s
    args = json.dumps({"cpu": cpu, "seconds": seconds, "limit": ctx.budget.max_items})
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.scenarios.insight", "analyse", args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(child.communicate(), timeout=seconds + 120)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"analysis subprocess failed: {err.decode()[-2000:]}")
    r = json.loads(out.decode().strip().splitlines()[-1])
    per_cpu_s = r["items"] / r["cpu_s"] if r["cpu_s"] else 0.0
    return Measurement(
        items=r["items"], seconds=r["seconds"], cpu_s=r["cpu_s"],
        figure=f"analysis on 1 pinned CPU: {r['origin']}, redacted, batches of {BATCH}, ≤ {r['max_tokens']} tokens "
        f"({per_cpu_s:,.0f} per CPU-second)",
        extra={"texts": r["origin"], "max_tokens": r["max_tokens"], "batch": BATCH, "cpu": r["cpu"],
               "redaction_share": round(r["redaction_s"] / r["seconds"], 3) if r["seconds"] else None,
               "cpu_per_wall": round(r["cpu_s"] / r["seconds"], 3) if r["seconds"] else None,
               "per_cpu_second": round(per_cpu_s, 1), "model_version": r["model_version"]},
    )  # fmt: skip


# --- 2. metric query latency at 1M feedback --------------------------------------------------------------------

YEAR = datetime.now(UTC).year - 1
"""The last full calendar year: nothing else the bench writes falls in it."""
FEEDBACK_PER_YEAR = 1_000_000
TOPICS = (
    "billing", "login_access", "wait_time", "staff_attitude", "delivery", "product_quality", "pricing", "onboarding",
    "communication", "cancellation", "refunds", "technical_issue", "rebooking_changes", "praise_loyalty",
    "mobile_app", "checkout", "returns", "loyalty_program", "website", "store_experience",
)  # fmt: skip
TALLY = (
    "count", "nps_n", "promoters", "detractors", "csat_n", "csat_sat", "ces_n", "ces_sum", "ces_easy",
    "sent_n", "sent_sum", "negative", "positive",
)  # fmt: skip
QUERY_REQUESTS = 50
"""Timed requests per query, sequential, after a warm-up."""
SQL_RUNS = 10
"""Times each query's statement is run straight on Postgres."""


def year_bounds(year: int = YEAR) -> tuple[datetime, datetime]:
    """[1 January, next 1 January) in UTC."""
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def hourly_counts(hours: int, total: int, rng: np.random.Generator) -> np.ndarray:
    """Feedback per hour with a daily and weekly rhythm and noise, adding up to exactly `total`."""
    h = np.arange(hours)
    daily = 1.0 + 0.7 * np.sin((h % 24 - 9) / 24 * 2 * np.pi)
    weekly = np.where((h // 24) % 7 >= 5, 0.6, 1.0)
    weights = np.clip(daily * weekly * rng.lognormal(0.0, 0.25, hours), 0.05, None)
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    counts[np.argsort(exact - counts)[::-1][: total - int(counts.sum())]] += 1  # largest remainders
    return counts


def tallies_for(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Plausible tally columns (in TALLY order) for feedback counts of any shape: shape + (13,)."""
    nps_n = rng.binomial(counts, 0.35)
    promoters = rng.binomial(nps_n, 0.4)
    detractors = rng.binomial(nps_n - promoters, 0.45)
    csat_n = rng.binomial(counts, 0.3)
    csat_sat = rng.binomial(csat_n, 0.75)
    ces_n = rng.binomial(counts, 0.15)
    ces_sum = ces_n * rng.uniform(4.0, 5.5, counts.shape)
    ces_easy = rng.binomial(ces_n, 0.6)
    sent_n = rng.binomial(counts, 0.9)
    negative = rng.binomial(sent_n, 0.35)
    positive = rng.binomial(sent_n - negative, 0.5)
    sent_sum = (positive - negative) * 0.6
    columns = (counts, nps_n, promoters, detractors, csat_n, csat_sat, ces_n, ces_sum, ces_easy, sent_n, sent_sum,
               negative, positive)  # fmt: skip
    return np.stack([np.asarray(c, dtype=np.float64) for c in columns], axis=-1)


@dataclass(frozen=True)
class MetricYear:
    """A year of hourly tallies (hours × keys × columns) and the daily sums of its UTC days."""

    start: datetime
    keys: tuple[str, ...]
    hourly: np.ndarray
    daily: np.ndarray


def metric_year(year: int = YEAR, seed: int = 11) -> MetricYear:
    """`all` plus 20 topics over a year: 1M feedback, each about 1.3 topics on average; days sum their hours."""
    rng = np.random.default_rng(seed)
    start, end = year_bounds(year)
    hours = int((end - start) / timedelta(hours=1))
    counts = hourly_counts(hours, FEEDBACK_PER_YEAR, rng)
    shares = rng.dirichlet(np.ones(len(TOPICS)) * 2.0) * 1.3
    by_topic = rng.binomial(counts[:, None], np.clip(shares, 0.0, 1.0)[None, :])
    hourly = tallies_for(np.concatenate([counts[:, None], by_topic], axis=1), rng)
    daily = hourly.reshape(hours // 24, 24, *hourly.shape[1:]).sum(axis=1)
    return MetricYear(start, ("all", *TOPICS), hourly, daily)


def _records(tenant: uuid.UUID, keys: tuple[str, ...], moments: list[Any], values: np.ndarray) -> Iterator[tuple]:
    """COPY rows (tenant, dim, key, moment, tally…) of the non-empty cells."""
    floats = [c.endswith("_sum") for c in TALLY]
    for i, moment in enumerate(moments):
        for k, key in enumerate(keys):
            row = values[i, k].tolist()
            if row[0] > 0:
                tally = (v if is_float else int(v) for v, is_float in zip(row, floats, strict=True))
                yield (tenant, "all" if key == "all" else "topic", key, moment, *tally)


async def insert_metric_year(conn: asyncpg.Connection, tenant: uuid.UUID, data: MetricYear) -> tuple[int, int]:
    """COPY the hourly and daily rows into insight's tables; return how many of each."""
    hours = [data.start + timedelta(hours=i) for i in range(data.hourly.shape[0])]
    days = [(data.start + timedelta(days=i)).date() for i in range(data.daily.shape[0])]
    hourly = list(_records(tenant, data.keys, hours, data.hourly))
    daily = list(_records(tenant, data.keys, days, data.daily))
    columns = ["tenant_id", "dim", "key", "bucket", *TALLY]
    await conn.copy_records_to_table("metric_buckets", schema_name="insight", columns=columns, records=hourly)
    columns[3] = "day"
    await conn.copy_records_to_table("metric_days", schema_name="insight", columns=columns, records=daily)
    # As autovacuum would after a bulk insert: the timed requests read the tables in their steady state.
    await conn.execute("VACUUM (ANALYZE) insight.metric_buckets, insight.metric_days")
    return len(hourly), len(daily)


async def delete_metric_year(conn: asyncpg.Connection, tenant: uuid.UUID, data: MetricYear) -> None:
    """Remove exactly the rows `insert_metric_year` wrote (no one else writes that year for the bench tenant)."""
    start, end = data.start, data.start + timedelta(hours=data.hourly.shape[0])
    keys = list(data.keys)
    await conn.execute(
        "DELETE FROM insight.metric_buckets WHERE tenant_id = $1 AND dim IN ('all', 'topic') AND key = ANY($2) "
        "AND bucket >= $3 AND bucket < $4", tenant, keys, start, end,
    )  # fmt: skip
    await conn.execute(
        "DELETE FROM insight.metric_days WHERE tenant_id = $1 AND dim IN ('all', 'topic') AND key = ANY($2) "
        "AND day >= $3 AND day < $4", tenant, keys, start.date(), end.date(),
    )  # fmt: skip


def tenant_of(found: System) -> uuid.UUID:
    """The bench tenant's id, read from the internal token `system()` issued for it."""
    secret = (found.folder / "internal-token-secret").read_text().strip()
    tenant = verify_token(secret, found.internal_token).tenant_id
    assert tenant is not None
    return tenant


@dataclass(frozen=True)
class SeriesCase:
    """One metric query to time: its label, interval, time zone and local period."""

    label: str
    interval: str
    tz: str
    days: int | None = None
    """Only the last `days` local days of the year (None: the whole year)."""

    def params(self, year: int = YEAR) -> dict[str, str]:
        """Query parameters: NPS by topic over the local year (or its last days), as a dashboard asks."""
        zone = ZoneInfo(self.tz)
        until = datetime(year + 1, 1, 1, tzinfo=zone)
        since = until - timedelta(days=self.days) if self.days else datetime(year, 1, 1, tzinfo=zone)
        return {"metric": "nps", "interval": self.interval, "group_by": "topic", "tz": self.tz,
                "from": since.isoformat(), "to": until.isoformat()}  # fmt: skip


CASES = (
    SeriesCase("day_utc", "day", "UTC"),
    SeriesCase("day_paris", "day", "Europe/Paris"),
    SeriesCase("day_new_york", "day", "America/New_York"),
    SeriesCase("week_utc", "week", "UTC"),
    SeriesCase("hour_30d_utc", "hour", "UTC", days=30),
)


async def time_series(
    client: httpx.AsyncClient, case: SeriesCase, requests: int, max_s: float
) -> tuple[list[float], int]:
    """Sequential GETs of one case after 3 untimed ones; the latencies and the last response's size."""
    params = case.params()
    for _ in range(3):
        (await client.get("/v1/insights/metrics", params=params)).raise_for_status()
    latencies: list[float] = []
    size = 0
    deadline = time.perf_counter() + max_s
    while len(latencies) < requests and time.perf_counter() < deadline:
        began = time.perf_counter()
        response = await client.get("/v1/insights/metrics", params=params)
        latencies.append(time.perf_counter() - began)
        response.raise_for_status()
        size = len(response.content)
    return latencies, size


async def sql_latencies(
    conn: asyncpg.Connection, tenant: uuid.UUID, case: SeriesCase, runs: int, role: str | None
) -> list[float]:
    """The same case's statement run straight on Postgres (insight's own SQL), to tell database from HTTP time: as
    the service runs it when `role` is its runtime role (row-level security for the tenant), else as connected."""
    p = case.params()
    q = SeriesQuery(p["metric"], datetime.fromisoformat(p["from"]), datetime.fromisoformat(p["to"]), case.interval,
                    case.tz, p["group_by"])  # fmt: skip
    sql, args = series_sql(q, tenant)

    async def once() -> float:
        async with conn.transaction():
            if role:
                await conn.execute(f"SET LOCAL ROLE {role}")
            await conn.execute("SELECT set_config('cxm.tenant_id', $1, true)", str(tenant))
            began = time.perf_counter()
            await conn.fetchval(sql, *args)
            return time.perf_counter() - began

    await once()
    return [await once() for _ in range(runs)]


async def year_volume(client: httpx.AsyncClient) -> int:
    """The year's feedback count as the API reports it (a check that the inserted tallies add up)."""
    start, end = year_bounds()
    params = {"metric": "volume", "interval": "week", "tz": "UTC", "from": start.isoformat(), "to": end.isoformat()}
    response = await client.get("/v1/insights/metrics", params=params)
    response.raise_for_status()
    return sum(int(s["count"]) for s in response.json()["series"])


async def metric_query(ctx: Context) -> Measurement:
    """p95 of `GET /v1/insights/metrics` (NPS by topic, daily, a year of 1M feedback) per time zone, and more."""
    found = await system(ctx)
    tenant = tenant_of(found)
    data = metric_year()
    conn = await asyncpg.connect(ctx.stack.url("system"), server_settings={"search_path": "insight"})
    try:
        rows = await insert_metric_year(conn, tenant, data)
        try:
            return await _time_cases(ctx, found, conn, tenant, rows)
        finally:
            await delete_metric_year(conn, tenant, data)
    finally:
        await conn.close()


async def _time_cases(
    ctx: Context, found: System, conn: asyncpg.Connection, tenant: uuid.UUID, rows: tuple[int, int]
) -> Measurement:
    """Time every case through the gateway (and its statement alone); the UTC daily query is the headline."""
    headers = {"Authorization": f"Bearer {found.api_key}"}
    results: dict[str, dict[str, Any]] = {}
    samples: list[float] = []
    started = time.perf_counter()
    # The service reads as its own role where `cxm up` could create it, with row-level security: so does the SQL.
    role: str | None = INSIGHT.runtime_role
    if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
        role = None
    async with httpx.AsyncClient(base_url=found.gateway, headers=headers, timeout=30) as client:
        volume = await year_volume(client)
        if volume != FEEDBACK_PER_YEAR:
            raise RuntimeError(f"the inserted year reads back as {volume:,} feedback, not {FEEDBACK_PER_YEAR:,}")
        for case in CASES:
            latencies, size = await time_series(client, case, QUERY_REQUESTS, max_s=ctx.budget.seconds * 4)
            shown = percentiles_ms(latencies) or {}
            sql = percentiles_ms(await sql_latencies(conn, tenant, case, SQL_RUNS, role)) or {}
            superuser = percentiles_ms(await sql_latencies(conn, tenant, case, SQL_RUNS, None)) or {}
            results[case.label] = {"requests": len(latencies), "response_bytes": size,
                                   **{k: round(v, 1) for k, v in shown.items()},
                                   "sql_p50": round(sql["p50"], 1), "sql_p95": round(sql["p95"], 1),
                                   "sql_superuser_p50": round(superuser["p50"], 1)}  # fmt: skip
            if case.label == "day_utc":
                samples = latencies
    headline = results["day_utc"]["p95"]
    others = ", ".join(f"{label} {r['p95']:.0f}" for label, r in results.items() if label != "day_utc")
    others += f"; its SQL alone p50 {results['day_utc']['sql_p50']:.0f}" + (" (as the service's role)" if role else "")
    return Measurement(
        items=sum(r["requests"] for r in results.values()), seconds=time.perf_counter() - started,
        latencies_s=samples, value=headline,
        figure=f"metrics NPS by topic, daily over a year of 1M feedback (UTC); p95 ms of {others}",
        extra={"queries": results, "hourly_rows": rows[0], "daily_rows": rows[1], "year": YEAR,
               "feedback": FEEDBACK_PER_YEAR, "keys": len(TOPICS) + 1},
    )  # fmt: skip


# --- 3. end-to-end freshness -----------------------------------------------------------------------------------

RATE = 100.0
"""Feedback per second the paced sender aims at."""
IN_FLIGHT = 64
"""Webhook requests outstanding at once, at most (the sender is open-loop up to this)."""
WARMUP = 8
"""Feedback sent (and waited for) before the timed run: the first analysis of a process loads its models."""


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """A Standard Webhooks `webhook-signature` value for a `whsec_…` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def feedback_body(external_id: str, text: str, n: int) -> bytes:
    """One generic `feedback` event; an NPS answer on every third."""
    data: dict[str, Any] = {"channel": "review", "external_id": external_id, "customer": {"id": f"fresh-{n % 250}"},
                            "text": text}  # fmt: skip
    if n % 3 == 0:
        data["scores"] = {"nps": n % 11}
    return json.dumps({"type": "feedback", "data": data}).encode()


def feedback_id(tenant: uuid.UUID, external_id: str) -> str:
    """The id ingest gives feedback that carries the source's own id (derived, so replays are no-ops)."""
    return str(record_id(tenant, "feedback", "generic", external_id))


@dataclass
class Hook:
    """A generic webhook connection of the bench tenant, and where to send to it."""

    connection_id: str
    secret: str
    tenant: uuid.UUID
    run: str = field(default_factory=lambda: secrets.token_hex(4))

    @property
    def path(self) -> str:
        """The webhook route, through the gateway."""
        return f"/v1/webhooks/generic/{self.connection_id}"


@dataclass
class Sent:
    """What the sender saw: per feedback id, when its webhook answered 2xx; and the failures."""

    acked: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    first: float = 0.0
    last: float = 0.0


async def post_feedback(client: httpx.AsyncClient, hook: Hook, n: int, text: str, sent: Sent) -> None:
    """Sign and send one feedback; note when it was acknowledged."""
    external_id = f"bench-{hook.run}-{n}"
    body = feedback_body(external_id, text, n)
    message_id = f"msg_{hook.run}_{n}"
    stamp = int(time.time())
    headers = {"content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(stamp),
               "webhook-signature": sign(hook.secret, message_id, stamp, body)}  # fmt: skip
    try:
        response = await client.post(hook.path, content=body, headers=headers)
    except httpx.HTTPError as exc:
        sent.failed.append(repr(exc))
        return
    if response.is_success:
        sent.acked[feedback_id(hook.tenant, external_id)] = time.perf_counter()
    else:
        sent.failed.append(f"{response.status_code} {response.text[:200]}")


async def send_paced(
    client: httpx.AsyncClient, hook: Hook, texts: list[str], first: int, count: int, rate: float
) -> Sent:
    """Send `count` feedback at `rate` per second (open loop, at most IN_FLIGHT outstanding)."""
    sent = Sent()
    slots = asyncio.Semaphore(IN_FLIGHT)
    tasks = []

    async def one(n: int) -> None:
        async with slots:
            await post_feedback(client, hook, n, texts[n % len(texts)], sent)

    sent.first = time.perf_counter()
    for i in range(count):
        delay = sent.first + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(first + i)))
    sent.last = time.perf_counter()
    await asyncio.gather(*tasks)
    return sent


async def watch_analyses(client: httpx.AsyncClient, key: str, arrivals: dict[str, float], ready: asyncio.Event) -> None:
    """Follow `GET /v1/stream`, noting when each feedback's analysis event arrives (it is readable by then)."""
    headers = {"Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(10.0, read=None)
    async with client.stream("GET", "/v1/stream", headers=headers, timeout=timeout) as response:
        response.raise_for_status()
        kind = None
        async for line in response.aiter_lines():
            if line.startswith("retry:"):
                ready.set()  # the gateway sends it once its subscriptions are in place
            elif line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: ") and kind == ANALYZED:
                fid = json.loads(line[len("data: ") :])["data"]["feedback_id"]
                arrivals.setdefault(fid, time.perf_counter())
            elif not line:
                kind = None


async def consumer_backlog(ctx: Context) -> int | None:
    """Feedback events insight has yet to analyse (pending + unacknowledged), or None if unknown."""
    try:
        nc = await nats.connect(ctx.stack.nats_url)
    except Exception:
        return None
    try:
        info = await nc.jetstream().consumer_info(
            stream_name("ingest", NATS_PREFIX), durable_name("insight", "feedback")
        )
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)
    except Exception:
        return None
    finally:
        await nc.close()


async def _setup(client: httpx.AsyncClient, tenant: uuid.UUID) -> tuple[Hook, str, str]:
    """A generic connection with our own secret, and an `insights:read` key for the stream (its id, its secret)."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    name = f"bench-freshness-{secrets.token_hex(3)}"
    created = await client.post("/v1/connections", json={"source": "generic", "name": name,
                                                         "config": {"secret": secret}})  # fmt: skip
    created.raise_for_status()
    key = await client.post("/v1/api-keys", json={"name": name, "scopes": ["insights:read"]})
    if not key.is_success:
        await client.delete(f"/v1/connections/{created.json()['id']}")
        key.raise_for_status()
    return Hook(str(created.json()["id"]), secret, tenant), str(key.json()["id"]), str(key.json()["key"])


async def freshness(ctx: Context) -> Measurement:
    """Webhook 2xx → analysis event on the SSE stream, per feedback, at a steady 100 feedback/s."""
    found = await system(ctx)
    tenant = tenant_of(found)
    headers = {"Authorization": f"Bearer {found.api_key}"}
    limits = httpx.Limits(max_connections=IN_FLIGHT + 4, max_keepalive_connections=IN_FLIGHT + 4)
    async with httpx.AsyncClient(base_url=found.gateway, headers=headers, timeout=30, limits=limits) as client:
        hook, key_id, stream_key = await _setup(client, tenant)
        try:
            return await _measure_freshness(ctx, client, hook, stream_key)
        finally:
            await client.delete(f"/v1/connections/{hook.connection_id}")
            await client.delete(f"/v1/api-keys/{key_id}")


async def _measure_freshness(ctx: Context, client: httpx.AsyncClient, hook: Hook, stream_key: str) -> Measurement:
    """Warm up, then send at RATE for twice the steady window and wait (bounded) for every analysis."""
    texts, origin = texts_and_origin()
    arrivals: dict[str, float] = {}
    ready = asyncio.Event()
    async with httpx.AsyncClient(base_url=str(client.base_url)) as stream_client:
        watcher = asyncio.create_task(watch_analyses(stream_client, stream_key, arrivals, ready))
        try:
            await asyncio.wait_for(ready.wait(), timeout=15)
            backlog = await consumer_backlog(ctx)
            warm = await send_paced(client, hook, texts, 0, WARMUP, rate=RATE)
            if not await wait_until(lambda: warm.acked.keys() <= arrivals.keys(), ctx.budget.drain_timeout_s, 0.02):
                raise RuntimeError(f"warm-up analyses did not arrive within {ctx.budget.drain_timeout_s:.0f}s "
                                   f"(insight backlog at start: {backlog}; acknowledged {len(warm.acked)}, "
                                   f"failures {warm.failed[:3]})")  # fmt: skip
            count = int(RATE * ctx.budget.steady_s * 2)
            sent = await send_paced(client, hook, texts, WARMUP, count, rate=RATE)
            await wait_until(lambda: sent.acked.keys() <= arrivals.keys(), ctx.budget.drain_timeout_s, 0.02)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    return _freshness_measurement(sent, arrivals, origin, backlog)


def _freshness_measurement(sent: Sent, arrivals: dict[str, float], origin: str, backlog: int | None) -> Measurement:
    """Latencies of the feedback whose analysis arrived; the achieved rate and what went missing."""
    latencies = [max(0.0, arrivals[f] - at) for f, at in sent.acked.items() if f in arrivals]
    if not latencies:
        raise RuntimeError(f"no analysis of the {len(sent.acked)} acknowledged feedback arrived on the stream")
    window = sent.last - sent.first
    achieved = (len(sent.acked) + len(sent.failed) - 1) / window if window > 0 else 0.0
    shown = percentiles_ms(latencies) or {}
    missing = len(sent.acked) - len(latencies)
    return Measurement(
        items=len(latencies), seconds=window, latencies_s=latencies, value=shown["p95"],
        figure=f"webhook 2xx → analysis on the SSE stream, p95 ms at {achieved:.0f}/s sent ({origin})"
        + (f", {missing} not seen" if missing else ""),
        extra={"target_rate": RATE, "achieved_rate": round(achieved, 1), "sent": len(sent.acked) + len(sent.failed),
               "acknowledged": len(sent.acked), "failed": len(sent.failed), "failures": sent.failed[:5],
               "analysed_in_time": len(latencies), "missing": missing, "insight_backlog_at_start": backlog,
               **{f"{k}_ms": round(v, 1) for k, v in shown.items()}},
    )  # fmt: skip


SCENARIOS = [
    Scenario(
        "insight.analysis_1core", "analysis on 1 pinned CPU (redacted, batches of 64)", "feedback/s",
        analysis_1core, target=Target(minimum=200),
    ),
    Scenario(
        "insight.metric_query", "GET /v1/insights/metrics daily by topic, 1M feedback (p95)", "ms", metric_query,
        target=Target(maximum=50), latency_of="per request (UTC daily)",
    ),
    Scenario(
        "insight.freshness", "webhook 2xx → analysis readable at 100/s (p95)", "ms", freshness,
        target=Target(maximum=1000), latency_of="per feedback",
    ),
]  # fmt: skip


if __name__ == "__main__" and sys.argv[1:2] == ["analyse"]:
    options = json.loads(sys.argv[2])
    print(json.dumps(analyse_on_one_core(options["cpu"], options["seconds"], options["limit"])))
