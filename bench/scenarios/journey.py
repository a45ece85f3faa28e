"""Journey's figures: funnel and paths query latency over 90 days of 100k customers (1M interactions), the
consumers' apply rate on a backlog (events already on JetStream → steps on customers' timelines), and the same
through the whole system (interactions through the gateway → steps on timelines)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

try:
    import psutil
except ImportError:  # optional, as in bench.load: without it the apply rate has no CPU breakdown
    psutil = None

from bench.harness import QUICK, Budget, Context, Measurement, Scenario, Target, percentiles_ms
from bench.scenarios.http import System, system
from bench.scenarios.insight import tenant_of
from bench.scenarios.journey_backlog import backlog_rate
from cxm_common.db import create_engine, set_tenant
from cxm_journey import queries
from cxm_journey.domain.funnels import FunnelStep
from cxm_journey.domain.paths import Step, order_steps, transitions, visits
from cxm_journey.domain.stages import DEFAULT_STAGE_MAP, stage_of
from cxm_journey.service import SPEC as JOURNEY

DAY_S = 86_400.0
UTC_SESSION = {"search_path": "journey", "timezone": "UTC"}
"""Days of timestamps are UTC days, as the projection's `datetime.date()` of asyncpg's UTC times."""

# --- the population --------------------------------------------------------------------------------------------

CUSTOMERS = 100_000
INTERACTIONS = 1_000_000
QUICK_SHARE = 10
"""A quick run generates a tenth of the population: the full one does not fit its scenario time limit."""
DAYS = 90
CHUNK = 5_000
"""Customers generated and copied at a time (bounds the memory of the rows in flight)."""

CHANNELS = {
    "page_viewed": "web", "ad_clicked": "social", "email_opened": "email", "content_viewed": "web",
    "pricing_viewed": "web", "demo_requested": "web", "trial_started": "web", "checkout_started": "web",
    "cart_updated": "web", "order_placed": "web", "signup_completed": "web", "onboarding_started": "in_app",
    "account_activated": "in_app", "login": "in_app", "feature_used": "in_app", "session_started": "in_app",
    "ticket_opened": "email", "ticket_solved": "email", "chat_started": "chat", "invoice_paid": "email",
    "payment_failed": "email", "renewal_reminder_viewed": "email", "plan_upgraded": "in_app",
    "subscription_cancelled": "web",
}  # fmt: skip
"""Every interaction name the population uses, with its channel."""
USAGE = (
    ("login", 34), ("feature_used", 40), ("session_started", 6), ("ticket_opened", 5), ("ticket_solved", 3),
    ("chat_started", 2), ("invoice_paid", 5), ("payment_failed", 1), ("renewal_reminder_viewed", 2),
    ("plan_upgraded", 2),
)  # fmt: skip
"""What customers who signed up go on to do, and how often (relative weights)."""
CHURN_SHARE = 0.08
"""Customers who signed up and, at their last step, cancel."""
FUNNEL = (
    ("pricing_viewed", 0.5, 1.5 * DAY_S, True), ("demo_requested", 0.25, DAY_S, False),
    ("trial_started", 0.2, 7200, False), ("checkout_started", 0.45, 2 * DAY_S, True), ("cart_updated", 0.3, 300, False),
    ("order_placed", 0.75, 1800, True), ("signup_completed", 0.9, 7200, True), ("onboarding_started", 0.6, 600, False),
    ("account_activated", 0.5, 3600, False),
)  # fmt: skip
"""After awareness: (name, chance, mean gap in seconds, whether a customer who does not take it stops there)."""


def stages_of_names() -> dict[str, str | None]:
    """Each name's stage under the default stage map, as the consumer decides it."""
    return {name: stage_of(DEFAULT_STAGE_MAP, kind="interaction", name=name, touchpoint=None) for name in CHANNELS}


@dataclass(frozen=True)
class Population:
    """How many customers and interactions, over which days, from which seed."""

    customers: int
    interactions: int
    start: datetime
    end: datetime
    seed: int = 5

    @property
    def label(self) -> str:
        """E.g. `100,000 customers / 1,000,000 interactions over 90 days`."""
        return f"{self.customers:,} customers / {self.interactions:,} interactions over {DAYS} days"


def population_for(budget: Budget, now: datetime) -> Population:
    """The full population, or a tenth of it in a quick run; the 90 days end at the current hour."""
    share = QUICK_SHARE if budget == QUICK else 1
    end = now.replace(minute=0, second=0, microsecond=0)
    return Population(CUSTOMERS // share, INTERACTIONS // share, end - timedelta(days=DAYS), end)


def funnel_journey(rng: random.Random, t: float, end: float) -> tuple[list[tuple[float, str]], bool]:
    """Awareness, then FUNNEL step by step with hours-to-days gaps; cut at `end`.

    Returns the (time, name) steps and whether the customer signed up (and goes on to use the product).
    """
    out: list[tuple[float, str]] = []

    def add(name: str, mean_gap_s: float) -> bool:
        nonlocal t
        t += rng.expovariate(1.0 / mean_gap_s) if mean_gap_s else 0.0
        if t >= end:
            return False
        out.append((t, name))
        return True

    first = rng.choices(("page_viewed", "ad_clicked", "email_opened"), (70, 15, 15))[0]
    add(first, 0)
    if first != "page_viewed" and not add("page_viewed", 600):
        return out, False
    for _ in range(rng.choices((0, 1, 2, 3), (45, 30, 15, 10))[0]):
        if not add(rng.choice(("page_viewed", "content_viewed")), 900):
            return out, False
    for name, chance, mean_gap_s, gate in FUNNEL:
        if rng.random() >= chance:
            if gate:
                return out, False
            continue
        if not add(name, mean_gap_s):
            return out, False
    return out, True


def usage_journey(rng: random.Random, after: float, end: float, count: int) -> list[tuple[float, str]]:
    """`count` steps of use (logins, features, tickets, invoices…) spread over (after, end); some end in a cancel."""
    if not count:
        return []
    names, weights = zip(*USAGE, strict=True)
    times = sorted(after + (end - after) * rng.random() for _ in range(count))
    chosen = rng.choices(names, weights, k=count)
    if rng.random() < CHURN_SHARE:
        chosen[-1] = "subscription_cancelled"
    return list(zip(times, chosen, strict=True))


@dataclass
class Generated:
    """One chunk of the population as COPY rows, and what the checks and the clean-up need."""

    steps: list[tuple[Any, ...]] = field(default_factory=list)
    visits: list[tuple[Any, ...]] = field(default_factory=list)
    customers: list[tuple[Any, ...]] = field(default_factory=list)
    ids: list[uuid.UUID] = field(default_factory=list)


@dataclass
class Totals:
    """What the whole population adds up to: transition counts per UTC day, and figures the API must read back."""

    transitions: Counter[tuple[date, str, str, str]] = field(default_factory=Counter)
    steps: int = 0
    visits: int = 0
    funnel_entries: int = 0
    """Customers with a `page_viewed` in the period: step 1 of both funnels."""


def generate(p: Population, tenant: uuid.UUID, totals: Totals) -> Iterator[Generated]:
    """The population in chunks of CHUNK customers, with exactly `p.interactions` steps in all.

    Each customer starts at a uniform time in the period and goes down the funnel; the interactions left over once
    every funnel is drawn are shared among those who signed up (more to heavier users and earlier sign-ups).
    Visits, transitions and summaries come from the domain functions the projection uses, so they agree with it.
    """
    rng = random.Random(p.seed)
    start, end = p.start.timestamp(), p.end.timestamp()
    funnels = [funnel_journey(rng, rng.uniform(start, end), end) for _ in range(p.customers)]
    drawn = sum(len(steps) for steps, _ in funnels)
    if drawn > p.interactions:
        raise RuntimeError(f"the funnels alone hold {drawn:,} interactions, more than {p.interactions:,}")
    users = [i for i, (steps, signed_up) in enumerate(funnels) if signed_up]
    weights = np.array([rng.lognormvariate(0.0, 1.0) * (end - funnels[i][0][-1][0]) for i in users])
    shares = np.random.default_rng(p.seed).multinomial(p.interactions - drawn, weights / weights.sum())
    usage = dict(zip(users, shares.tolist(), strict=True))
    stage = stages_of_names()
    for first in range(0, p.customers, CHUNK):
        chunk = Generated()
        for i in range(first, min(first + CHUNK, p.customers)):
            steps, _ = funnels[i]
            steps = steps + usage_journey(rng, steps[-1][0], end, usage.get(i, 0))
            _add_customer(chunk, totals, tenant, uuid.UUID(int=rng.getrandbits(128)), steps, rng, stage)
            totals.funnel_entries += any(name == "page_viewed" for _, name in steps)
        yield chunk


def _add_customer(
    chunk: Generated, totals: Totals, tenant: uuid.UUID, customer: uuid.UUID, raw: list[tuple[float, str]],
    rng: random.Random, stage: dict[str, str | None],
) -> None:  # fmt: skip
    """One customer's steps, visits and summary rows, as the projection would write them."""
    steps = order_steps(
        Step(id=f"i:{uuid.UUID(int=rng.getrandbits(128))}", at=datetime.fromtimestamp(at, UTC), kind="interaction",
             name=name, stage=stage[name], channel=CHANNELS[name])
        for at, name in raw
    )  # fmt: skip
    found = visits(steps)
    chunk.ids.append(customer)
    chunk.steps.extend((s.id, tenant, customer, s.at, s.kind, s.name, s.channel, None, s.stage) for s in steps)
    chunk.visits.extend(
        (tenant, customer, seq, v.stage, v.entered_at, v.exited_at, v.next_stage, "") for seq, v in enumerate(found)
    )  # fmt: skip
    for from_stage, to_stage, at in transitions(found):
        totals.transitions[(at.date(), from_stage, to_stage, "")] += 1
    path = ">".join(v.stage for v in found)[:2000]
    current = found[-1].stage if found else None
    chunk.customers.append((customer, tenant, None, current, path or None, steps[0].at, steps[-1].at))
    totals.steps += len(steps)
    totals.visits += len(found)


STEP_COLUMNS = ["id", "tenant_id", "customer_id", "at", "kind", "name", "channel", "touchpoint", "stage"]
VISIT_COLUMNS = ["tenant_id", "customer_id", "seq", "stage", "entered_at", "exited_at", "next_stage", "segment"]
CUSTOMER_COLUMNS = ["id", "tenant_id", "segment", "current_stage", "path", "first_seen", "last_seen"]


async def insert_population(conn: asyncpg.Connection, p: Population, tenant: uuid.UUID, ids: list[uuid.UUID]) -> Totals:
    """COPY the population into journey's read models and add its transition counts; `ids` gets its customers."""
    totals = Totals()
    for chunk in generate(p, tenant, totals):
        ids.extend(chunk.ids)
        await conn.copy_records_to_table("steps", schema_name="journey", columns=STEP_COLUMNS, records=chunk.steps)
        await conn.copy_records_to_table("visits", schema_name="journey", columns=VISIT_COLUMNS, records=chunk.visits)
        await conn.copy_records_to_table(
            "customers", schema_name="journey", columns=CUSTOMER_COLUMNS, records=chunk.customers
        )
    # Added to whatever the projection already counted on the same keys, so that removing ours restores it.
    await conn.executemany(
        "INSERT INTO journey.transition_days (tenant_id, day, from_stage, to_stage, segment, count) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id, day, from_stage, to_stage, segment, lane) "
        "DO UPDATE SET count = transition_days.count + excluded.count",
        [(tenant, *key, n) for key, n in sorted(totals.transitions.items())],
    )
    # Tables that grew over 90 days have been autovacuumed: statistics, and a visibility map for index-only scans.
    await vacuum(conn)
    return totals


async def remove_customers(conn: asyncpg.Connection, tenant: uuid.UUID, customers: list[uuid.UUID]) -> None:
    """Take customers out of journey's read models: their transitions off the daily counts, then their rows."""
    async with conn.transaction():
        # Taken off lane 0's row (the counts of a transition are summed over lanes, and a lane's row may go below 0).
        await conn.execute(
            "INSERT INTO journey.transition_days (tenant_id, day, from_stage, to_stage, segment, count) "
            "SELECT $1, (exited_at AT TIME ZONE 'UTC')::date, stage, next_stage, segment, -count(*)::int "
            "FROM journey.visits WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[]) AND next_stage IS NOT NULL "
            "GROUP BY 2, 3, 4, 5 "
            "ON CONFLICT (tenant_id, day, from_stage, to_stage, segment, lane) "
            "DO UPDATE SET count = transition_days.count + excluded.count",
            tenant, customers,
        )  # fmt: skip
        # A zero count reads as no transition (paths keep sums above 0): dropping every zero row changes no answer.
        await conn.execute("DELETE FROM journey.transition_days WHERE tenant_id = $1 AND count = 0", tenant)
        for table, column in (("visits", "customer_id"), ("steps", "customer_id"), ("customers", "id")):
            await conn.execute(
                f"DELETE FROM journey.{table} WHERE tenant_id = $1 AND {column} = ANY($2::uuid[])", tenant, customers
            )


async def vacuum(conn: asyncpg.Connection) -> None:
    """VACUUM (ANALYZE) journey's read models: after an insert as autovacuum would have, after a delete so that the
    scenarios after this one do not pay for it."""
    await conn.execute("VACUUM (ANALYZE) journey.steps, journey.visits, journey.customers, journey.transition_days")


# --- 1. funnel and paths query latency -------------------------------------------------------------------------

QUERY_REQUESTS = 30
"""Timed requests per query, sequential, after WARMUP untimed ones."""
WARMUP = 3
QUERY_MAX_S = 30.0
"""The longest one query's timed requests may take (they stop early past it)."""
SQL_EVERY = 3
"""Every third timed request is followed by the same query straight on Postgres, through the service's function."""
FUNNEL_3 = ("page_viewed", "pricing_viewed", "checkout_started")
FUNNEL_5 = (*FUNNEL_3, "order_placed", "signup_completed")
WITHIN = "P7D"


@dataclass(frozen=True)
class QueryCase:
    """One request to time: its label, method, path and parameters or body."""

    label: str
    method: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None


def query_cases(p: Population) -> tuple[QueryCase, ...]:
    """Both funnels within P7D, and the paths, over the population's 90 days."""
    period = {"from": p.start.isoformat(), "to": p.end.isoformat()}
    return (
        QueryCase(
            "funnel_3", "POST", "/v1/journeys/funnels", body={"steps": list(FUNNEL_3), "within": WITHIN, **period}
        ),
        QueryCase(
            "funnel_5", "POST", "/v1/journeys/funnels", body={"steps": list(FUNNEL_5), "within": WITHIN, **period}
        ),
        QueryCase("paths", "GET", "/v1/journeys/paths", params=period),
    )


async def call(client: httpx.AsyncClient, case: QueryCase) -> httpx.Response:
    """Send one case's request; raise on an error status."""
    response = await client.request(case.method, case.path, params=case.params, json=case.body)
    response.raise_for_status()
    return response


async def time_case(
    client: httpx.AsyncClient, case: QueryCase, direct: Callable[[], Awaitable[Any]]
) -> tuple[list[float], list[float], httpx.Response]:
    """WARMUP untimed requests, then QUERY_REQUESTS timed ones (fewer past QUERY_MAX_S), every SQL_EVERY-th followed
    by the same query run straight on Postgres (so that both see the same machine); both latencies, the last answer.
    """
    for _ in range(WARMUP):
        response = await call(client, case)
    await direct()
    latencies: list[float] = []
    sql: list[float] = []
    deadline = time.perf_counter() + QUERY_MAX_S
    while len(latencies) < QUERY_REQUESTS and time.perf_counter() < deadline:
        began = time.perf_counter()
        response = await call(client, case)
        latencies.append(time.perf_counter() - began)
        if len(latencies) % SQL_EVERY == 1:
            began = time.perf_counter()
            await direct()
            sql.append(time.perf_counter() - began)
    return latencies, sql, response


def check_answers(answers: dict[str, Any], totals: Totals) -> None:
    """The API must read back what was inserted: the funnels' entries, and every transition on the paths."""
    for label in ("funnel_3", "funnel_5"):
        entered = answers[label]["steps"][0]["entered"]
        if entered != totals.funnel_entries:
            raise RuntimeError(f"{label} counts {entered:,} entries, not the {totals.funnel_entries:,} inserted")
    edges = sum(e["count"] for e in answers["paths"]["edges"])
    inserted = sum(totals.transitions.values())
    if edges < inserted:
        raise RuntimeError(f"the paths count {edges:,} transitions, fewer than the {inserted:,} inserted")


def days_of(p: Population) -> tuple[date, date]:
    """The UTC days [first, last) the paths route reads for the population's period."""
    return p.start.date(), (p.end - timedelta(microseconds=1)).date() + timedelta(days=1)


def direct_query(
    conn: AsyncConnection, tenant: uuid.UUID, p: Population, label: str, role: str | None
) -> Callable[[], Awaitable[Any]]:
    """A case run straight on Postgres through the service's own query function (database vs HTTP time), in a
    transaction as the service runs it: as `role` when given (row-level security for the tenant)."""
    within = timedelta(days=7)
    steps = [FunnelStep("interaction", s) for s in (FUNNEL_3 if label == "funnel_3" else FUNNEL_5)]

    async def run() -> Any:
        async with conn.begin():
            if role:
                await conn.execute(text(f"SET LOCAL ROLE {role}"))
            await set_tenant(conn, tenant)
            if label == "paths":
                return await queries.paths(conn, tenant, *days_of(p), None, 10)
            return await queries.funnel(conn, tenant, steps, within, p.start, p.end)

    return run


async def query_latency(ctx: Context) -> Measurement:
    """p95 of the funnels (3 and 5 steps, P7D) and paths over 90 days of 100k customers; the worse is the headline."""
    found = await system(ctx)
    tenant = tenant_of(found)
    began = datetime.now(UTC)
    p = population_for(ctx.budget, began)
    conn = await asyncpg.connect(ctx.stack.url("system"), server_settings=UTC_SESSION)
    ids: list[uuid.UUID] = []
    try:
        try:
            started = time.perf_counter()
            totals = await insert_population(conn, p, tenant, ids)
            inserted_s = time.perf_counter() - started
            return await _time_queries(ctx, found, p, tenant, totals, inserted_s)
        finally:
            await remove_customers(conn, tenant, ids)
            # A friction round that ran meanwhile saw our customers: its findings go too.
            await conn.execute("DELETE FROM journey.friction WHERE tenant_id = $1 AND detected_at >= $2", tenant, began)
            await vacuum(conn)
    finally:
        await conn.close()


async def _time_queries(
    ctx: Context, found: System, p: Population, tenant: uuid.UUID, totals: Totals, inserted_s: float
) -> Measurement:
    """Time every case through the gateway (and straight on Postgres), then check the answers add up."""
    headers = {"Authorization": f"Bearer {found.api_key}"}
    results: dict[str, dict[str, Any]] = {}
    samples: dict[str, list[float]] = {}
    answers: dict[str, Any] = {}
    started = time.perf_counter()
    engine = create_engine(ctx.stack.url("system"), "journey", application_name="bench", pool_size=1)
    try:
        # The service reads as its own role where `cxm up` could create it, with row-level security: so does the SQL.
        async with engine.begin() as conn:
            found_role = await conn.scalar(
                text("SELECT rolname FROM pg_roles WHERE rolname = :r"), {"r": JOURNEY.runtime_role}
            )
        role: str | None = str(found_role) if found_role else None
        async with (
            engine.connect() as conn,
            httpx.AsyncClient(base_url=found.gateway, headers=headers, timeout=60) as client,
        ):
            for case in query_cases(p):
                direct = direct_query(conn, tenant, p, case.label, role)
                samples[case.label], sql, response = await time_case(client, case, direct)
                answers[case.label] = response.json()
                shown = percentiles_ms(samples[case.label]) or {}
                alone = percentiles_ms(sql) or {}
                results[case.label] = {"requests": len(samples[case.label]), "response_bytes": len(response.content),
                                       **{k: round(v, 1) for k, v in shown.items()},
                                       "sql_runs": len(sql), "sql_p50": round(alone["p50"], 1),
                                       "sql_max": round(alone["max"], 1)}  # fmt: skip
    finally:
        await engine.dispose()
    seconds = time.perf_counter() - started
    check_answers(answers, totals)
    worst = max(results, key=lambda label: results[label]["p95"])
    each = ", ".join(f"{label} {r['p95']:.0f} (SQL p50 {r['sql_p50']:.0f})" for label, r in results.items())
    each += "; SQL as the service's role" if role else "; SQL as superuser"
    return Measurement(
        items=sum(r["requests"] for r in results.values()), seconds=seconds, latencies_s=samples[worst],
        value=results[worst]["p95"],
        figure=f"funnels (3, 5 steps, {WITHIN}) and paths over {p.label}; worse p95 ms — {each}",
        extra={"queries": results, "worst": worst, "customers": p.customers, "steps": totals.steps,
               "visits": totals.visits, "transition_rows": len(totals.transitions),
               "transitions": sum(totals.transitions.values()), "funnel_entries": totals.funnel_entries,
               "funnel_5_conversion": answers["funnel_5"]["overall_conversion"], "insert_s": round(inserted_s, 1),
               "from": p.start.isoformat(), "to": p.end.isoformat()},
    )  # fmt: skip


# --- 2. the consumer's apply rate ------------------------------------------------------------------------------

APPLY_INTERACTIONS = 20_000
PER_CUSTOMER = 5
BATCH = 1000
SENDERS = 4
"""Batches in flight at once."""
RETRIES = 5
POLL_S = 0.05
APPLY_TEMPLATES = (
    ("page_viewed", "pricing_viewed", "checkout_started", "order_placed", "signup_completed"),
    ("login", "feature_used", "feature_used", "ticket_opened", "login"),
    ("page_viewed", "content_viewed", "pricing_viewed", "demo_requested", "trial_started"),
    ("login", "feature_used", "invoice_paid", "login", "feature_used"),
)
"""Five interactions a customer does in a row (the last days of a busy product)."""


def apply_batches(run: str, count: int, since: datetime, until: datetime, seed: int = 9) -> list[list[list[dict]]]:
    """`count` interactions of `count / 5` new customers in [since, until): per sender, its own customers' in time
    order, in batches of 1,000.

    Each sender has customers of its own, as parallel importers of separate shards would: batches in flight together
    that create the same new customers deadlock in ingest (their keys are inserted in different orders).
    """
    rng = random.Random(seed)
    span = (until - since).total_seconds()
    shards: list[list[dict]] = [[] for _ in range(SENDERS)]
    for k in range(count // PER_CUSTOMER):
        names = APPLY_TEMPLATES[k % len(APPLY_TEMPLATES)]
        times = sorted(rng.uniform(0, span) for _ in names)
        for name, offset in zip(names, times, strict=True):
            at = since + timedelta(seconds=offset)
            shards[k % SENDERS].append({"customer_id": f"journey-bench-{run}-{k}", "name": name,
                                        "channel": CHANNELS[name], "occurred_at": at.isoformat()})  # fmt: skip
    for items in shards:
        items.sort(key=lambda i: i["occurred_at"])
    return [[items[i : i + BATCH] for i in range(0, len(items), BATCH)] for items in shards]


@dataclass
class Sent:
    """What ingest acknowledged: interaction ids, when the first and last batch were accepted, each batch's time."""

    ids: list[str] = field(default_factory=list)
    accepted: int = 0
    first: float | None = None
    last: float = 0.0
    latencies: list[float] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    """Why batches were sent again (a 503 says retry: a client that follows `Retry-After`)."""


async def post_batch(client: httpx.AsyncClient, items: list[dict], sent: Sent) -> httpx.Response:
    """Post one batch, again after `Retry-After` (at most RETRIES times) while the answer is a 503."""
    for _ in range(RETRIES):
        response = await client.post("/v1/interactions/batch", json={"items": items})
        if response.status_code != 503:
            break
        sent.retried.append(response.text[:200])
        await asyncio.sleep(min(float(response.headers.get("retry-after") or 1), 2.0))
    if not response.is_success:
        raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:300]}")
    return response


async def send_batches(client: httpx.AsyncClient, shards: list[list[list[dict]]], sent: Sent) -> None:
    """Post every shard's batches through the gateway, one sender per shard, as fast as ingest takes them."""

    async def sender(batches: list[list[dict]]) -> None:
        for items in batches:
            began = time.perf_counter()
            response = await post_batch(client, items, sent)
            now = time.perf_counter()
            sent.latencies.append(now - began)
            sent.first = now if sent.first is None else sent.first
            sent.last = now
            body = response.json()
            sent.accepted += int(body["accepted"])
            sent.ids.extend(str(i) for i in body["ids"])

    await asyncio.gather(*(sender(batches) for batches in shards))


def cpu_seconds(ctx: Context, found: System) -> dict[str, float]:
    """CPU seconds used so far by each cxm service process, Postgres (exited backends included) and NATS."""
    if psutil is None:
        return {}
    out: dict[str, float] = {}
    try:
        services = psutil.Process(found.process.pid).children(recursive=True)
    except psutil.Error:
        services = []
    for process in services:
        try:
            name = next((a.removeprefix("cxm_") for a in process.cmdline() if a.startswith("cxm_")), None)
            if name:
                times = process.cpu_times()
                out[name] = out.get(name, 0.0) + times.user + times.system
        except psutil.Error:
            continue
    for name, pid in (("postgres", ctx.stack.postgres.pid()), ("nats", ctx.stack.server_pids()[1])):
        if pid is None:
            continue
        try:
            server = psutil.Process(pid)
            times = server.cpu_times()
            total = times.user + times.system + times.children_user + times.children_system
            for child in server.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    total += sum(child.cpu_times()[:2])
            out[name] = total
        except psutil.Error:
            continue
    return out


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each process spent between two readings."""
    return {name: after[name] - before[name] for name in after if name in before}


async def applied(conn: asyncpg.Connection, tenant: uuid.UUID, since: datetime, until: datetime) -> int:
    """Steps of the tenant in the window (an index range on steps_time: cheap enough to poll)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM journey.steps WHERE tenant_id = $1 AND at >= $2 AND at < $3", tenant, since, until
        )
    )


async def watch(
    conn: asyncpg.Connection, tenant: uuid.UUID, window: tuple[datetime, datetime], base: int, goal: Callable[[], int],
    deadline: float,
) -> list[tuple[float, int]]:  # fmt: skip
    """Poll the applied count every POLL_S until it reaches `goal()` or the deadline; the (time, applied) samples."""
    samples: list[tuple[float, int]] = []
    while time.perf_counter() < deadline:
        samples.append((time.perf_counter(), await applied(conn, tenant, *window) - base))
        if samples[-1][1] >= goal():
            break
        await asyncio.sleep(POLL_S)
    return samples


def crossing(samples: list[tuple[float, int]], level: float) -> float | None:
    """When the applied count first reached `level`."""
    return next((t for t, n in samples if n >= level), None)


async def drain_e2e(ctx: Context) -> Measurement:
    """Whole system: interactions/s journey applies (first batch accepted → all steps stored), ingest's rate."""
    found = await system(ctx)
    tenant = tenant_of(found)
    count = min(APPLY_INTERACTIONS, ctx.budget.prefill)
    now = datetime.now(UTC)
    # Three days that end a day ago: nothing else the bench sends falls in them, so their count is ours.
    window = (now - timedelta(days=4), now - timedelta(days=1))
    batches = apply_batches(secrets.token_hex(3), count, *window)
    conn = await asyncpg.connect(ctx.stack.url("system"), server_settings=UTC_SESSION)
    sent = Sent()
    try:
        base = await applied(conn, tenant, *window)
        headers = {"Authorization": f"Bearer {found.api_key}"}
        async with httpx.AsyncClient(base_url=found.gateway, headers=headers, timeout=60) as client:
            cpu_before = cpu_seconds(ctx, found)
            began = time.perf_counter()
            deadline = began + ctx.budget.drain_timeout_s * 2
            goal = count
            watcher = asyncio.create_task(watch(conn, tenant, window, base, lambda: goal, deadline))
            try:
                await send_batches(client, batches, sent)
            except BaseException:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                raise
            goal = sent.accepted
            samples = await watcher
            cpu = cpu_used(cpu_before, cpu_seconds(ctx, found))
        return _apply_measurement(sent, samples, began, count, cpu)
    finally:
        await _remove_applied(ctx, conn, tenant, sent, window)
        await conn.close()


def _apply_measurement(
    sent: Sent, samples: list[tuple[float, int]], began: float, count: int, cpu: dict[str, float]
) -> Measurement:
    """Drain rate (the headline), the 10 %–90 % rate, ingest's acceptance rate, how far journey lagged, and the CPU
    each process spent per interaction."""
    assert sent.first is not None
    done = samples[-1][1] if samples else 0
    finished = crossing(samples, sent.accepted) or samples[-1][0]
    seconds = max(finished - sent.first, 1e-9)
    t10, t90 = crossing(samples, 0.1 * sent.accepted), crossing(samples, 0.9 * sent.accepted)
    middle = 0.8 * sent.accepted / (t90 - t10) if t10 and t90 and t90 > t10 else None
    ingest = sent.accepted / (sent.last - began) if sent.last > began else 0.0
    at_last_ack = next((n for t, n in reversed(samples) if t <= sent.last), 0)
    missing = sent.accepted - done
    return Measurement(
        items=done, seconds=seconds, latencies_s=sent.latencies,
        figure=f"interactions applied by journey, first batch accepted → all on timelines ({sent.accepted:,} for "
        f"{count // PER_CUSTOMER:,} customers; ingest accepted {ingest:,.0f}/s)"
        + (f", {missing:,} not applied in time" if missing else ""),
        extra={"sent": count, "accepted": sent.accepted, "applied": done, "missing": missing,
               "drain_s": round(seconds, 2), "ingest_accept_rate": round(ingest, 1),
               "ingest_s": round(sent.last - began, 2),
               "rate_10_to_90": round(middle, 1) if middle else None, "applied_at_last_accept": at_last_ack,
               "batch": BATCH, "senders": SENDERS, "retried_503": len(sent.retried), "retry_reasons": sent.retried[:3],
               "cpu_ms_per_interaction": {k: round(v / done * 1000, 3) for k, v in cpu.items()} if done else None,
               "journey_cpu_pct": round(cpu["journey"] / (finished - began) * 100, 1)
               if "journey" in cpu and finished > began else None},
    )  # fmt: skip


async def _remove_applied(
    ctx: Context, conn: asyncpg.Connection, tenant: uuid.UUID, sent: Sent, window: tuple[datetime, datetime]
) -> None:
    """Wait (bounded) for stragglers, then remove the customers' journey rows and ingest's interaction rows."""
    if not sent.ids:
        return
    deadline = time.perf_counter() + ctx.budget.drain_timeout_s
    steps = [f"i:{i}" for i in sent.ids]
    while time.perf_counter() < deadline:
        stored = await conn.fetchval("SELECT count(*) FROM journey.steps WHERE id = ANY($1::text[])", steps)
        if stored >= len(steps):
            break
        await asyncio.sleep(0.5)
    rows = await conn.fetch(
        "SELECT DISTINCT customer_id FROM journey.steps WHERE tenant_id = $1 AND id = ANY($2::text[])", tenant, steps
    )
    customers = [r["customer_id"] for r in rows]
    await remove_customers(conn, tenant, customers)
    await conn.execute(
        "DELETE FROM ingest.interactions WHERE tenant_id = $1 AND id = ANY($2::uuid[])", tenant,
        [uuid.UUID(i) for i in sent.ids],
    )  # fmt: skip
    await vacuum(conn)


SCENARIOS = [
    Scenario(
        "journey.queries", "funnels and paths over 90 days of 100k customers / 1M interactions (worse p95)", "ms",
        query_latency, target=Target(maximum=300), latency_of="per request (worst query)",
    ),
    Scenario(
        "journey.apply_rate", "journey's consumers draining a backlog of ingest and insight events", "events/s",
        backlog_rate, raw="raw.js_fetch_ack", target=Target(minimum=5_000), latency_of="per fetched batch",
    ),
    Scenario(
        "journey.drain_e2e", "interactions through the gateway applied to timelines by journey (whole system)",
        "events/s", drain_e2e, raw="raw.pg_executemany_1000", latency_of="per ingest batch of 1,000",
    ),
]  # fmt: skip
