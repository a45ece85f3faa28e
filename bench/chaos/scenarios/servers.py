"""F1 and F2: the broker and the database go away under load and come back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from bench.chaos import reconcile
from bench.chaos.reconcile import Expected
from bench.chaos.scenario import Outcome, Run, reconcile_into, since, standard_checks
from bench.chaos.traffic import RETRIES, Request, Traffic, mixed, paced


async def nats_killed(run: Run, outcome: Outcome) -> None:
    """F1: NATS is killed while webhooks and API calls arrive, and restarted `fault_s` later."""
    b = run.budget
    tenant = await run.tenant("f1")
    base = await reconcile.baseline(run.system)
    marks: dict[str, float] = {}
    done = asyncio.Event()

    async def fault() -> None:
        await asyncio.sleep(b.before_s)
        run.system.kill_nats()
        marks["killed"] = time.monotonic()
        await asyncio.sleep(b.fault_s)
        await asyncio.to_thread(run.system.start_nats)
        marks["restarted"] = time.monotonic()
        await asyncio.sleep(b.after_s)
        done.set()

    traffic, _ = await asyncio.gather(_load(run, mixed(tenant, run.run_id("f1")), done), fault())
    during = [s for s in traffic.sent if marks["killed"] <= s.due < marks["restarted"]]
    published = await reconcile.outboxes_empty(run.system, b.drain_timeout_s)
    outcome.recovery_s["outboxes_published"] = since(marks["restarted"]) if published else None
    expected = Expected.of(traffic)
    figures = await reconcile_into(run, outcome, base, traffic, expected, [tenant.id])
    outcome.recovery_s["backlog_drained"] = since(marks["restarted"]) if figures["drained_in_s"] is not None else None
    outcome.extra.update({"nats_down_s": round(marks["restarted"] - marks["killed"], 1),
                          "requests_while_down": len(during),
                          "acked_while_down": sum(1 for s in during if 200 <= s.status < 300)})  # fmt: skip
    outcome.check("requests were sent while NATS was down", len(during) > 0, f"{len(during)} requests")
    standard_checks(outcome, figures)


async def postgres_stopped(run: Run, outcome: Outcome) -> None:
    """F2: Postgres is stopped with `pg_ctl stop -m immediate` under load, then started again."""
    b = run.budget
    tenant = await run.tenant("f2")
    base = await reconcile.baseline(run.system)
    marks: dict[str, float] = {}
    done = asyncio.Event()
    readiness: list[tuple[float, str, bool]] = []
    probes = ["ingest-api", "gateway"]

    async def watch(stop: asyncio.Event) -> None:
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                for name in probes:
                    readiness.append((time.monotonic(), name, await run.system.processes[name].ready(client)))
                await asyncio.sleep(0.25)

    async def fault() -> None:
        await asyncio.sleep(b.before_s)
        await asyncio.to_thread(run.system.stop_postgres_immediately)
        marks["stopped"] = time.monotonic()
        await asyncio.sleep(b.fault_s)
        await asyncio.to_thread(run.system.start_postgres)
        marks["restarted"] = time.monotonic()
        await asyncio.sleep(b.after_s)
        done.set()

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stop))
    try:
        # No retries: every answer while Postgres is down is what this scenario checks.
        traffic, _ = await asyncio.gather(_load(run, mixed(tenant, run.run_id("f2")), done, retries=0), fault())
        ready_again = await run.system.wait_ready(list(run.system.processes), b.drain_timeout_s)
        outcome.recovery_s["all_ready"] = since(marks["restarted"])
        outcome.extra["ready_wait_s"] = round(ready_again, 2)
    finally:
        stop.set()
        await watcher
    refused = [s for s in traffic.sent if not 200 <= s.status < 300]
    first_ok_after = min((s.due + s.latency_s for s in traffic.acked() if s.due >= marks["restarted"]), default=None)
    outcome.recovery_s["first_2xx"] = round(first_ok_after - marks["restarted"], 2) if first_ok_after else None
    expected = Expected.of(traffic)
    figures = await reconcile_into(run, outcome, base, traffic, expected, [tenant.id])
    outcome.recovery_s["backlog_drained"] = since(marks["restarted"]) if figures["drained_in_s"] is not None else None
    without_retry_after = [s for s in refused if s.status == 503 and not s.retry_after]
    went_down = {name for at, name, ok in readiness if marks["stopped"] < at < marks["restarted"] and not ok}
    came_back = {name for at, name, ok in readiness if at > marks["restarted"] and ok}
    odd = [s for s in refused if s.status != 503]
    outcome.extra.update({
        "postgres_down_s": round(marks["restarted"] - marks["stopped"], 1),
        "not_503": [f"{s.status} {s.request.method} {s.request.path} {s.error or s.body[:200]!r}" for s in odd[:8]],
        "refused": len(refused),
        "readiness_false_while_down": sorted(went_down),
        "readiness_true_after": sorted(came_back),
        "refused_but_stored": await _refused_but_stored(run, traffic),
    })  # fmt: skip
    outcome.check("requests were refused while Postgres was down", len(refused) > 0, f"{len(refused)} refused")
    outcome.check("every refusal is a 503 with Retry-After, never a 500 or a timeout",
                  all(s.status == 503 and s.retry_after for s in refused),
                  f"statuses {figures['statuses']}; 503 without Retry-After: {len(without_retry_after)}")  # fmt: skip
    outcome.check("readiness false while down, true after", went_down == set(probes) and came_back == set(probes),
                  f"false: {sorted(went_down)}, true after: {sorted(came_back)}")  # fmt: skip
    standard_checks(outcome, figures, refusals="any")


async def _load(run: Run, make: Callable[[int], Request], done: asyncio.Event, retries: int = RETRIES) -> Traffic:
    """The steady mixed load until `done` is set (bounded by the scenario's time limit in count)."""
    rate, limit = run.budget.rate, run.budget.scenario_timeout_s
    return await paced(run.session, run.gateway, make, rate=rate, seconds=limit, max_count=int(rate * limit),
                       stop=done, retries=retries)  # fmt: skip


async def _refused_but_stored(run: Run, traffic: Traffic) -> int:
    """Refused requests whose record is stored anyway (the commit raced the outage: allowed, never the reverse)."""
    refused = [s.request.record for s in traffic.sent if not 200 <= s.status < 300 and s.request.record]
    if not refused:
        return 0
    conn = await run.system.db()
    try:
        return int(await conn.fetchval(
            "SELECT (SELECT count(*) FROM ingest.feedback WHERE id = ANY($1::uuid[])) "
            "+ (SELECT count(*) FROM ingest.interactions WHERE id = ANY($1::uuid[]))", refused))  # fmt: skip
    finally:
        await conn.close()
