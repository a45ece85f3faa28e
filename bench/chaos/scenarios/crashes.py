"""F6, F7 and F8: consumers and the publisher killed at the worst moment, and a transaction that commits late."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bench.chaos import reconcile
from bench.chaos.reconcile import Expected
from bench.chaos.scenario import Outcome, Run, reconcile_into, since, standard_checks
from bench.chaos.system import ChaosSystem, tail
from bench.chaos.traffic import Request, Sent, Traffic, feedback_api, mixed, paced, send

HIT = 3
"""Each failpoint fires on its third hit: the process has done some work, and has more in hand."""


async def consumers_killed(run: Run, outcome: Outcome) -> None:
    """F6: journey dies just before committing a batch while insight dies just after committing one and before
    acking it; both are restarted. Every event must be applied exactly once."""
    tenant = await run.tenant("f6")
    base = await reconcile.baseline(run.system)
    kills = [("journey", "consumer.before_commit"), ("insight", "consumer.after_commit_before_ack")]
    done = asyncio.Event()
    deaths: dict[str, str] = {}

    async def faults() -> None:
        try:
            await asyncio.sleep(run.budget.before_s)
            ends = await asyncio.gather(*(_die_at(run, outcome, name, f"{point}=kill@{HIT}") for name, point in kills))
            deaths.update({name: end for (name, _), end in zip(kills, ends, strict=True)})
            await asyncio.sleep(run.budget.after_s)
        finally:
            done.set()

    traffic, _ = await asyncio.gather(_load(run, mixed(tenant, run.run_id("f6")), done), faults())
    figures = await reconcile_into(run, outcome, base, traffic, Expected.of(traffic), [tenant.id])
    outcome.extra["deaths"] = deaths
    for name, point in kills:
        outcome.check(f"{name} died at {point}", deaths.get(name) == "killed at the failpoint", deaths.get(name, ""))
    standard_checks(outcome, figures, refusals="unavailable")


async def publisher_killed(run: Run, outcome: Outcome) -> None:
    """F7: ingest's publisher dies after JetStream acknowledged a batch and before it deleted the outbox rows, and
    later at a random moment; the restarted publisher sends those events again under the same message ids."""
    tenant = await run.tenant("f7")
    base = await reconcile.baseline(run.system)
    done = asyncio.Event()
    deaths: dict[str, str] = {}
    absorbed = 0

    async def faults() -> None:
        nonlocal absorbed
        try:
            await asyncio.sleep(run.budget.before_s)
            deaths["at the failpoint"] = await _die_at(
                run, outcome, "ingest-publish", f"relay.after_publish_before_mark=kill@{HIT}",
                before_restart=lambda: _published_not_marked(run.system, base),
            )  # fmt: skip
            absorbed = outcome.extra.pop("published_not_marked", 0)
            await asyncio.sleep(run.budget.after_s)
            process = run.system.processes["ingest-publish"]
            process.kill()
            killed = time.monotonic()
            deaths["at random"] = "killed mid-load"
            await run.system.restart("ingest-publish")
            outcome.recovery_s["ingest-publish_restarted_after_random_kill"] = since(killed)
            await asyncio.sleep(run.budget.after_s)
        finally:
            done.set()

    traffic, _ = await asyncio.gather(_load(run, mixed(tenant, run.run_id("f7")), done), faults())
    figures = await reconcile_into(run, outcome, base, traffic, Expected.of(traffic), [tenant.id],
                                   duplicates_sent=absorbed)  # fmt: skip
    outcome.extra.update({"deaths": deaths, "republished_and_absorbed_by_jetstream": absorbed})
    outcome.check("the publisher died at relay.after_publish_before_mark",
                  deaths.get("at the failpoint") == "killed at the failpoint", str(deaths))  # fmt: skip
    outcome.check("it had published events it had not marked", absorbed > 0, f"{absorbed} events")
    standard_checks(outcome, figures, refusals="unavailable")


async def late_commit(run: Run, outcome: Outcome) -> None:
    """F8: 8 writers append at once while one transaction, having taken its position, stays open 2 s; the
    publisher must not skip the late row when it commits behind rows committed meanwhile."""
    tenant = await run.tenant("f8")
    hold_at = 12
    await run.system.restart("ingest-api", f"eventstore.after_append=sleep:2@{hold_at}")
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f8")
    per_writer = 8 if run.quick else 15
    traffic = Traffic()
    began = time.monotonic()

    async def writer(w: int) -> None:
        for n in range(per_writer):
            traffic.sent.append(await send(run.session, run.gateway, feedback_api(tenant, rid, w * 1000 + n, f"w{w}")))

    try:
        await asyncio.gather(*(writer(w) for w in range(8)))
    finally:
        await run.system.restart("ingest-api")
    traffic.seconds = time.monotonic() - began
    figures = await reconcile_into(run, outcome, base, traffic, Expected.of(traffic), [tenant.id])
    late = max(traffic.acked(), key=lambda s: s.latency_s)
    overtaken = await _overtaken(run.system, late, traffic.acked())
    outcome.extra.update({"late_request_ms": round(late.latency_s * 1000), "late_record": str(late.request.record),
                          "committed_past_it_while_open": overtaken})  # fmt: skip
    outcome.check("one transaction stayed open 2 s", late.latency_s >= 2.0, f"{late.latency_s:.2f}s")
    outcome.check("rows with later positions committed while it was open", overtaken > 0, f"{overtaken} rows")
    standard_checks(outcome, figures, refusals="unavailable")


async def _die_at(
    run: Run, outcome: Outcome, name: str, failpoint: str, before_restart: Callable[[], object] | None = None
) -> str:
    """Restart `name` with a failpoint armed, wait until it dies there, then restart it without one."""
    await run.system.restart(name, failpoint)
    process = run.system.processes[name]
    code = await process.wait_exit(run.budget.drain_timeout_s)
    died = time.monotonic()
    if code is None:
        return f"still running after {run.budget.drain_timeout_s:.0f}s (failpoint never reached)"
    if before_restart is not None:
        outcome.extra["published_not_marked"] = await before_restart()  # type: ignore[misc]
    await run.system.restart(name)
    outcome.recovery_s[f"{name}_restarted"] = since(died)
    reached = f"failpoint {failpoint.split('=')[0]} reached" in tail(process.log_path, 50)
    return "killed at the failpoint" if code == -9 and reached else f"exited {code}"


async def _published_not_marked(system: ChaosSystem, base: reconcile.Baseline) -> int:
    """Events JetStream holds whose outbox rows are still there: what a restarted publisher sends again."""
    seqs = await reconcile.stream_seqs(system)
    conn = await system.db()
    try:
        appended = int(await conn.fetchval("SELECT count(*) FROM ingest.events WHERE position > $1",
                                           base.positions["ingest"]))  # fmt: skip
        waiting = int(await conn.fetchval("SELECT count(*) FROM ingest.outbox"))
    finally:
        await conn.close()
    return (seqs["ingest"] - base.stream_seqs["ingest"]) - (appended - waiting)


async def _overtaken(system: ChaosSystem, late: Sent, acked: list[Sent]) -> int:
    """Acknowledged records stored at a later position than the late one, answered before it was."""
    earlier = [s.request.record for s in acked if s.answered_at < late.answered_at and s.request.record]
    conn = await system.db()
    try:
        position = await conn.fetchval("SELECT position FROM ingest.events WHERE stream_id = $1",
                                       str(late.request.record))  # fmt: skip
        return int(await conn.fetchval(
            "SELECT count(*) FROM ingest.events WHERE stream_id = ANY($1::text[]) AND position > $2",
            [str(r) for r in earlier], position))  # fmt: skip
    finally:
        await conn.close()


async def _load(run: Run, make: Callable[[int], Request], done: asyncio.Event) -> Traffic:
    rate, limit = run.budget.rate, run.budget.scenario_timeout_s
    return await paced(run.session, run.gateway, make, rate=rate, seconds=limit, max_count=int(rate * limit), stop=done)
