"""The kit's relay (Postgres outbox → JetStream): drain throughput, and commit-to-ack latency under load."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any, cast

import orjson
from nats.js import JetStreamContext

from bench.harness import Context, Measurement, Scenario, Target, percentiles_ms, wait_until
from bench.scenarios.common import SERVICE, bench_stream, drain, event, kit_engine, nats_client, prefill
from cxm_common.eventstore import append
from cxm_common.observability import RELAY_LAG
from cxm_common.relay import Relay

WRITERS = 8
OFFERED_RATE = 1_000
"""Events per second the writers of the latency scenario aim for, together."""


async def relay_throughput(ctx: Context) -> Measurement:
    """Pre-fill the outbox, then time `publish_once` passes (1,000 events each) until it is empty."""
    async with kit_engine(ctx, "relay_", pool_size=2) as engine, nats_client(ctx) as nc:
        js = nc.jetstream(timeout=10)
        topic = await bench_stream(ctx, js)
        try:
            prefilled = await prefill(engine, ctx.budget.prefill)
            relay = Relay(engine, js, SERVICE, prefix=topic.prefix, batch_size=1000)
            passes: list[float] = []
            cpu = time.process_time()
            published, seconds = await drain(relay, ctx.budget.drain_timeout_s, passes)
            cpu_s = time.process_time() - cpu
            info = await js.stream_info(topic.stream)
            return Measurement(
                items=published,
                seconds=seconds,
                latencies_s=passes,
                cpu_s=cpu_s,
                extra={"prefilled": prefilled, "stream_messages": info.state.messages},
            )
        finally:
            await js.delete_stream(topic.stream)


class AckClock:
    """Stands in for the relay's JetStream context and times each event from its `recorded_at` to its ack."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self.lags_s: list[float] = []

    async def publish_async(self, subject: str, payload: bytes = b"", **options: Any) -> asyncio.Future[Any]:
        """Publish as the real context does, noting when JetStream acks."""
        future = await self.js.publish_async(subject, payload, **options)
        recorded = datetime.fromisoformat(orjson.loads(payload)["recorded_at"]).timestamp()

        def acked(done: asyncio.Future[Any]) -> None:
            if not done.cancelled() and done.exception() is None:
                self.lags_s.append(time.time() - recorded)

        future.add_done_callback(acked)
        return future

    def __getattr__(self, name: str) -> Any:
        return getattr(self.js, name)


async def relay_latency(ctx: Context) -> Measurement:
    """8 writers append at a steady rate while `Relay.run` publishes; latency = JetStream ack − `recorded_at`."""
    async with kit_engine(ctx, "relay_", pool_size=WRITERS + 1) as engine, nats_client(ctx) as nc:
        js = nc.jetstream(timeout=10)
        topic = await bench_stream(ctx, js)
        clock = AckClock(js)
        relay = Relay(engine, cast(JetStreamContext, clock), SERVICE, prefix=topic.prefix)
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop), name="bench-relay")
        appended = 0

        async def writer(index: int, seconds: float) -> None:
            nonlocal appended
            interval = WRITERS / OFFERED_RATE
            due = time.perf_counter()
            deadline = due + seconds
            tag = ctx.unique(f"w{index}-")
            n = 0
            while time.perf_counter() < deadline:
                stream_id = f"{tag}-{n // 10}"
                async with engine.begin() as conn:
                    await append(conn, stream_id, [event(stream_id, n)], expected_version=n % 10)
                relay.wake()  # what a service does after each commit (ServiceRuntime.committed)
                n += 1
                appended += 1
                due += interval
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

        async def phase(seconds: float) -> tuple[int, float]:
            start_count, started = appended, time.perf_counter()
            await asyncio.gather(*(writer(i, seconds) for i in range(WRITERS)))
            await wait_until(lambda: relay.published >= appended, 30)
            return appended - start_count, time.perf_counter() - started

        try:
            await phase(ctx.budget.warmup_s)
            clock.lags_s.clear()
            before = _lag_buckets()
            cpu = time.process_time()
            events, seconds = await phase(ctx.budget.steady_s)
            cpu_s = time.process_time() - cpu
            histogram_p95 = _bucket_quantile(before, _lag_buckets(), 0.95)
        finally:
            stop.set()
            await running
            await js.delete_stream(topic.stream)
        latencies = percentiles_ms(clock.lags_s)
        return Measurement(
            items=events,
            seconds=seconds,
            latencies_s=list(clock.lags_s),
            value=latencies["p95"] if latencies else None,
            cpu_s=cpu_s,
            figure=f"commit→ack p95, {events / seconds:,.0f} events/s appended by {WRITERS} writers",
            extra={
                "offered_events_per_s": OFFERED_RATE,
                "appended_events_per_s": round(events / seconds),
                "acks_timed": len(clock.lags_s),
                "relay_histogram_p95_le_ms": None if histogram_p95 is None else histogram_p95 * 1000,
            },
        )


def _lag_buckets() -> dict[float, float]:
    """Return the cumulative bucket counts of the relay's lag histogram for the bench service."""
    buckets: dict[float, float] = {}
    for metric in RELAY_LAG.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket") and sample.labels.get("service") == SERVICE:
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def _bucket_quantile(before: dict[float, float], after: dict[float, float], q: float) -> float | None:
    """Return the upper bound of the histogram bucket holding quantile `q` of what was observed in between."""
    counts = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    if not counts or counts[-1][1] <= 0:
        return None
    wanted = q * counts[-1][1]
    return next(le for le, count in counts if count >= wanted)


SCENARIOS = [
    Scenario(
        "relay.throughput", "outbox → JetStream drain", "events/s", relay_throughput,
        raw="raw.js_publish_async", target=Target(minimum=10_000), latency_of="per pass of 1,000",
    ),
    Scenario(
        "relay.latency", f"commit→ack p95 at {OFFERED_RATE:,}/s offered", "ms", relay_latency,
        target=Target(maximum=100), latency_of="commit → ack",
    ),
]  # fmt: skip
