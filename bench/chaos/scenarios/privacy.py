"""F10 and F11: tenants interleaved (no answer ever holds another tenant's row) and a customer erased mid-run."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.chaos import reconcile
from bench.chaos.reconcile import Expected
from bench.chaos.scenario import Outcome, Run, reconcile_into, since, standard_checks
from bench.chaos.traffic import (
    Request,
    Sent,
    Tenant,
    Traffic,
    all_at_once,
    customer_update,
    feedback_api,
    feedback_webhook,
    interaction_api,
    mixed,
    one_by_one,
    paced,
)

TENANTS = 10
SHARED_CUSTOMERS = 5
"""Every tenant uses the same customer keys and the same external ids: collision bait for any missing filter."""


async def tenants_interleaved(run: Run, outcome: Outcome) -> None:
    """F10: ten tenants send interleaved webhooks and API calls with the same customer keys and external ids, two
    follow the live stream meanwhile; then every tenant reads every list, record and export it can."""
    tenants = list(await asyncio.gather(*(run.tenant(f"f10-{i}") for i in range(TENANTS))))
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f10")
    makers = [mixed(t, rid, customers=SHARED_CUSTOMERS) for t in tenants]
    per_tenant = 15 if run.quick else 30
    streams = {t.id: [] for t in tenants[:2]}  # type: dict[uuid.UUID, list[dict[str, Any]]]
    watchers = [asyncio.create_task(_watch(run, t, streams[t.id])) for t in tenants[:2]]
    await asyncio.sleep(1.0)
    total = per_tenant * TENANTS
    traffic = await paced(run.session, run.gateway, lambda j: makers[j % TENANTS](j // TENANTS),
                          rate=run.budget.rate, seconds=total / run.budget.rate + 1, max_count=total)  # fmt: skip
    expected = Expected.of(traffic)
    figures = await reconcile_into(run, outcome, base, traffic, expected, [t.id for t in tenants])
    await asyncio.sleep(1.0)
    for watcher in watchers:
        watcher.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    owned = await _owned(run, tenants, traffic)
    rows = cross = foreign_found = 0
    examples: list[str] = []
    for tenant in tenants:
        mine, foreign = owned[tenant.id], _markers(owned, exclude=tenant.id)
        for label, items in await _reads(run, tenant, mine, owned):
            for item in items:
                rows += 1
                text = json.dumps(item, default=str)
                leak = next((m for m in foreign if m in text), None)
                if leak:
                    cross += 1
                    examples.append(f"{tenant.name} {label}: {leak}")
        for label, status in await _foreign_lookups(run, tenant, owned):
            foreign_found += status != 404
            if status != 404:
                examples.append(f"{tenant.name} {label}: {status}")
    for tenant_id, events in streams.items():
        for event in events:
            rows += 1
            if event.get("tenant_id") != str(tenant_id):
                cross += 1
                examples.append(f"stream of {tenant_id}: an event of {event.get('tenant_id')}")
    complete = await _complete(run, tenants, owned)
    outcome.extra.update({"rows_checked": rows, "cross_tenant_rows": cross, "foreign_ids_not_404": foreign_found,
                          "stream_events_seen": {str(k): len(v) for k, v in streams.items()},
                          "examples": examples[:10], "incomplete": complete})  # fmt: skip
    outcome.check("0 cross-tenant rows in any response", cross == 0 and rows > 0, f"{cross} of {rows} rows")
    outcome.check("another tenant's ids answer 404", foreign_found == 0, f"{foreign_found} lookups answered")
    outcome.check("the live stream carried each tenant's own events", all(streams.values()),
                  str({str(k): len(v) for k, v in streams.items()}))  # fmt: skip
    outcome.check("every tenant sees all of its own feedback", not complete, str(complete))
    standard_checks(outcome, figures)


async def _watch(run: Run, tenant: Tenant, seen: list[dict[str, Any]]) -> None:
    """Follow the tenant's live stream, keeping every event's envelope."""
    async with run.session.get(f"{run.gateway}/v1/stream", headers=tenant.auth, timeout=None) as response:
        async for raw in response.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                seen.append(json.loads(line[len("data: ") :]))


async def _owned(run: Run, tenants: list[Tenant], traffic: Traffic) -> dict[uuid.UUID, set[str]]:
    """Per tenant, what only it may see: its tag, tenant id, record ids and internal customer ids."""
    owned: dict[uuid.UUID, set[str]] = {t.id: {f"[{t.tag}-", str(t.id)} for t in tenants}
    for sent in traffic.acked():
        if sent.request.tenant and sent.request.record:
            owned[sent.request.tenant].add(str(sent.request.record))
    conn = await run.system.db()
    try:
        for row in await conn.fetch("SELECT id, tenant_id FROM ingest.customers WHERE tenant_id = ANY($1::uuid[])",
                                    [t.id for t in tenants]):  # fmt: skip
            owned[row["tenant_id"]].add(str(row["id"]))
    finally:
        await conn.close()
    return owned


def _markers(owned: dict[uuid.UUID, set[str]], exclude: uuid.UUID) -> list[str]:
    return [m for tenant, marks in owned.items() if tenant != exclude for m in marks]


async def _get(run: Run, tenant: Tenant, path: str) -> tuple[int, Any]:
    async with run.session.get(f"{run.gateway}{path}", headers=tenant.auth) as response:
        body = await response.read()
        kind = response.headers.get("Content-Type", "")
        if "ndjson" in kind:
            return response.status, [json.loads(line) for line in body.splitlines() if line.strip()]
        if "json" in kind:
            return response.status, json.loads(body or b"null")
        return response.status, body.decode(errors="replace")


def _items(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return list(body["items"])
    if isinstance(body, list):
        return body
    return [body]


async def _reads(run: Run, tenant: Tenant, mine: set[str], owned: dict[uuid.UUID, set[str]]) -> list[tuple[str, Any]]:
    """Every read the tenant can make about the data everyone sent: lists, records, exports, metrics, journeys."""
    reads: list[tuple[str, Any]] = []
    cursor: str | None = None
    while True:
        status, page = await _get(run, tenant, "/v1/feedback?limit=100" + (f"&cursor={cursor}" if cursor else ""))
        reads.append(("feedback list", _items(page)))
        cursor = page.get("next_cursor") if isinstance(page, dict) else None
        if not cursor:
            break
    paths = [
        f"/v1/feedback?customer_id=cust-{i}" for i in range(SHARED_CUSTOMERS)
    ] + [f"/v1/customers/cust-{i}" for i in range(SHARED_CUSTOMERS)] + [
        "/v1/feedback/export?format=jsonl", "/v1/insights/metrics?metric=nps&interval=day",
        "/v1/insights/metrics?metric=nps&interval=day&group_by=channel", "/v1/actions?limit=100",
        "/v1/journeys/paths", "/v1/journeys/stages", "/v1/journeys/at-risk",
    ]  # fmt: skip
    records = sorted(m for m in mine if _is_uuid(m))
    paths += [f"/v1/feedback/{r}" for r in records[:5]] + [f"/v1/insights/feedback/{r}" for r in records[:5]]
    paths += [f"/v1/journeys/customers/{r}" for r in records if r in await _customers(run, tenant)][:5]
    for path in paths:
        status, body = await _get(run, tenant, path)
        if status == 200:
            reads.append((path.split("?")[0], _items(body)))
    return reads


async def _customers(run: Run, tenant: Tenant) -> set[str]:
    conn = await run.system.db()
    try:
        rows = await conn.fetch("SELECT id FROM ingest.customers WHERE tenant_id = $1", tenant.id)
    finally:
        await conn.close()
    return {str(r["id"]) for r in rows}


async def _foreign_lookups(run: Run, tenant: Tenant, owned: dict[uuid.UUID, set[str]]) -> list[tuple[str, int]]:
    """Another tenant's feedback, analyses and journeys by id: each must be a 404."""
    foreign = sorted(m for m in _markers(owned, exclude=tenant.id) if _is_uuid(m))[:6]
    answers = []
    for record in foreign:
        for path in (f"/v1/feedback/{record}", f"/v1/insights/feedback/{record}", f"/v1/journeys/customers/{record}"):
            status, _ = await _get(run, tenant, path)
            answers.append((path, status))
    return answers


async def _complete(run: Run, tenants: list[Tenant], owned: dict[uuid.UUID, set[str]]) -> dict[str, int]:
    """Tenants whose feedback list misses some of their own acknowledged feedback (name → how many)."""
    missing: dict[str, int] = {}
    for tenant in tenants:
        _, body = await _get(run, tenant, "/v1/feedback/export?format=jsonl")
        listed = {str(item.get("id")) for item in _items(body) if isinstance(item, dict)}
        conn = await run.system.db()
        try:
            stored = {str(r["id"]) for r in await conn.fetch(
                "SELECT id FROM ingest.feedback WHERE tenant_id = $1", tenant.id)}  # fmt: skip
        finally:
            await conn.close()
        if stored - listed:
            missing[tenant.name] = len(stored - listed)
    return missing


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


VICTIM = "e-3"
CUSTOMERS = [f"e-{i}" for i in range(8)]


async def erased_mid_run(run: Run, outcome: Outcome) -> None:
    """F11: a customer is erased while feedback about them and others keeps arriving; their personal data must be
    unreadable everywhere afterwards, and every other customer untouched."""
    tenant = await run.tenant("f11")
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f11")
    profiles = [
        customer_update(tenant, c, {"email": f"{c}.{tenant.tag}@example.com", "name": f"Name {c} {tenant.tag}",
                                    "phone": f"+33 6 12 34 56 {i:02d}", "segment": "gold"})
        for i, c in enumerate(CUSTOMERS)
    ]  # fmt: skip
    traffic = await one_by_one(run.session, run.gateway, profiles)
    victim_id = await _customer_id(run, tenant, VICTIM)
    erased = asyncio.Event()
    start = datetime.now(UTC) - timedelta(hours=1)

    def make(n: int) -> Request:
        customer = CUSTOMERS[n % len(CUSTOMERS)]
        if erased.is_set() and customer == VICTIM:
            customer = CUSTOMERS[0]
        if n % 3 == 0:
            return feedback_webhook(tenant, rid, n, customer)
        if n % 3 == 1:
            return feedback_api(tenant, rid, n, customer)
        return interaction_api(tenant, rid, n, customer, "login", start + timedelta(seconds=n))

    done = asyncio.Event()
    erasure: dict[str, Any] = {}
    burst: list[Sent] = []

    async def erase() -> None:
        try:
            await asyncio.sleep(run.budget.before_s + 1)
            # Nothing more is sent about them but a last burst, stored and answered, then the erasure at once: their
            # feedback is still on its way through the services when each of them erases the customer.
            erased.set()
            await asyncio.sleep(0.5)
            burst.extend(
                (
                    await all_at_once(
                        run.session, run.gateway, [feedback_api(tenant, rid, 10_000 + i, VICTIM) for i in range(10)]
                    )
                ).sent
            )
            async with run.session.delete(f"{run.gateway}/v1/customers/{VICTIM}", headers=tenant.auth) as response:
                erasure.update(status=response.status, **(await response.json()))
            erasure["at"] = time.monotonic()
            await asyncio.sleep(run.budget.after_s + 1)
        finally:
            done.set()

    rate, limit = run.budget.rate, run.budget.scenario_timeout_s
    load, _ = await asyncio.gather(
        paced(run.session, run.gateway, make, rate=rate, seconds=limit, max_count=int(rate * limit), stop=done), erase()
    )
    traffic.extend(load)
    traffic.sent.extend(burst)
    victims = {s.request.record for s in traffic.acked() if s.request.customer == VICTIM and s.request.record}
    expected = Expected.of(traffic)
    others = Expected(
        feedback={k: v for k, v in expected.feedback.items() if k not in victims},
        interactions={k: v for k, v in expected.interactions.items() if k not in victims},
    )
    figures = await reconcile_into(run, outcome, base, traffic, others, [tenant.id])
    status = await _erasure_status(run, tenant, erasure.get("erasure_id"), run.budget.drain_timeout_s)
    outcome.recovery_s["erasure_complete"] = since(erasure["at"]) if status and status.get("complete") else None
    exposures = await _exposures(run, tenant, victim_id, victims)
    readable_others = await _readable(run, tenant, [k for k in expected.feedback if k not in victims][:20])
    letters = figures["dead_lettered"]
    missing = await reconcile.lost(run.system, Expected(
        feedback={k: v for k, v in expected.feedback.items() if k in victims},
        interactions={k: v for k, v in expected.interactions.items() if k in victims},
    ))  # fmt: skip
    outcome.extra.update({"victim_records": len(victims), "erasure": status, "exposures": exposures[:10],
                          "others_readable": readable_others, "victim_records_not_stored": missing})  # fmt: skip
    outcome.check("their acknowledged records are still stored (without their personal data)", not missing,
                  str(missing))  # fmt: skip
    outcome.check("the erasure was accepted and completed by every service", bool(status and status.get("complete")),
                  json.dumps(status, default=str))  # fmt: skip
    outcome.check("their personal data is unreadable everywhere (APIs, exports, every schema)", not exposures,
                  "; ".join(exposures[:5]))  # fmt: skip
    outcome.check("other customers' feedback still reads in full", readable_others == min(20, len(others.feedback)),
                  f"{readable_others} readable")  # fmt: skip
    outcome.check("no dead letters (feedback in flight for the erased customer is dropped, not failed)", not letters,
                  str(letters))  # fmt: skip
    standard_checks(outcome, figures)


async def _customer_id(run: Run, tenant: Tenant, key: str) -> uuid.UUID:
    status, body = await _get(run, tenant, f"/v1/customers/{key}")
    assert status == 200, body
    return uuid.UUID(body["id"])


async def _erasure_status(run: Run, tenant: Tenant, erasure_id: str | None, timeout_s: float) -> dict[str, Any] | None:
    if not erasure_id:
        return None
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = await _get(run, tenant, f"/v1/erasures/{erasure_id}")
        if (status == 200 and body.get("complete")) or time.monotonic() > deadline:
            return body if status == 200 else {"status": status}
        await asyncio.sleep(0.5)


async def _exposures(run: Run, tenant: Tenant, victim: uuid.UUID, records: Iterable[uuid.UUID]) -> list[str]:
    """Every place the erased customer's personal data can still be read: API answers, the export, and any column
    of any table in every schema holding their email, name or the texts they sent."""
    markers = [f"{VICTIM}.{tenant.tag}@example.com", f"Name {VICTIM} {tenant.tag}"]
    found: list[str] = []
    status, _ = await _get(run, tenant, f"/v1/customers/{VICTIM}")
    if status != 404:
        found.append(f"GET /v1/customers/{VICTIM} answered {status}")
    paths = ["/v1/feedback/export?format=jsonl", f"/v1/feedback?customer_id={VICTIM}",
             f"/v1/journeys/customers/{victim}", "/v1/actions?limit=200"]  # fmt: skip
    for record in records:
        paths += [f"/v1/feedback/{record}", f"/v1/insights/feedback/{record}"]
    theirs = {str(r) for r in records}
    for path in paths:
        status, body = await _get(run, tenant, path)
        text = json.dumps(body, default=str)
        for item in _items(body):
            if (
                isinstance(item, dict)
                and item.get("text")
                and {str(item.get("id")), str(item.get("feedback_id"))} & theirs
            ):
                found.append(f"{path}: text {str(item['text'])[:40]!r}")
        found += [f"{path}: {m}" for m in markers if m in text]
    conn = await run.system.db()
    try:
        for schema in reconcile.SCHEMAS:
            live = await conn.fetchval(f"SELECT count(*) FROM {schema}.crypto_keys WHERE subject_id = $1 "
                                       "AND wrapped IS NOT NULL", victim)  # fmt: skip
            if live:
                found.append(f"{schema}.crypto_keys: the key of the erased customer still exists")
        for table in ("journey.steps", "journey.visits", "actions.feedback_facts", "actions.interaction_facts",
                      "actions.risks"):  # fmt: skip
            rows = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE customer_id = $1", victim)
            if rows:
                found.append(f"{table}: {rows} rows about the erased customer")
        columns = await conn.fetch(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns WHERE table_schema = "
            "ANY($1::text[]) AND data_type IN ('text', 'jsonb', 'character varying', 'json')", list(reconcile.SCHEMAS)
        )  # fmt: skip
        for column in columns:
            for marker in markers:
                hits = await conn.fetchval(
                    f'SELECT count(*) FROM {column["table_schema"]}."{column["table_name"]}" '
                    f'WHERE "{column["column_name"]}"::text LIKE $1', f"%{marker}%"
                )  # fmt: skip
                if hits:
                    found.append(
                        f"{column['table_schema']}.{column['table_name']}.{column['column_name']}: {hits} rows"
                    )
    finally:
        await conn.close()
    return found


async def _readable(run: Run, tenant: Tenant, records: list[uuid.UUID]) -> int:
    """How many of these feedback records still read with their text through ingest and insight."""
    readable = 0
    for record in records:
        _, stored = await _get(run, tenant, f"/v1/feedback/{record}")
        _, analysis = await _get(run, tenant, f"/v1/insights/feedback/{record}")
        if (
            isinstance(stored, dict)
            and stored.get("text")
            and tenant.tag in stored["text"]
            and isinstance(analysis, dict)
        ):
            readable += 1
    return readable
