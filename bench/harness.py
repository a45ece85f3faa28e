"""What scenarios are made of: budgets, measurements, targets, the run context and timed worker loops."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stack import Stack

# ~1 KB of payload for every row, message and event the scenarios write.
PAYLOAD_TEXT = "x" * 1000
PAYLOAD_BYTES = PAYLOAD_TEXT.encode()


@dataclass(frozen=True)
class Budget:
    """Bounds of one timed loop: at most `seconds` and at most `max_items`, after `warmup_s` untimed."""

    seconds: float
    max_items: int
    warmup_s: float
    prefill: int
    """Events or messages written before a drain scenario (relay, consumer, fetch) is timed."""
    drain_timeout_s: float
    """The longest a drain scenario may run before it reports what it managed."""
    steady_s: float
    """How long a steady-load latency scenario runs."""
    scenario_timeout_s: float
    """The hard limit on one scenario, set-up included; past it the scenario is cancelled and reported failed."""


FULL = Budget(
    seconds=5.0, max_items=250_000, warmup_s=0.5, prefill=50_000, drain_timeout_s=60.0, steady_s=10.0,
    scenario_timeout_s=180.0,
)  # fmt: skip
QUICK = Budget(
    seconds=1.5, max_items=50_000, warmup_s=0.2, prefill=10_000, drain_timeout_s=20.0, steady_s=3.0,
    scenario_timeout_s=60.0,
)  # fmt: skip


@dataclass
class Measurement:
    """What one scenario measured: items in the timed window, latencies, and an optional value override."""

    items: int
    seconds: float
    latencies_s: list[float] = field(default_factory=list)
    value: float | None = None
    """The headline value when it is not `items / seconds` (e.g. a latency percentile)."""
    cpu_s: float | None = None
    """CPU time this (client) process used in the timed window, all threads included."""
    figure: str | None = None
    """A figure text that depends on what was measured (e.g. the load actually achieved)."""
    extra: dict[str, Any] = field(default_factory=dict)
    percentiles_ms: dict[str, float] | None = None
    """Latency percentiles measured elsewhere (e.g. by wrk), when there are no samples of our own."""

    @property
    def rate(self) -> float:
        """Items per second over the timed window."""
        return self.items / self.seconds if self.seconds > 0 else 0.0

    @property
    def headline(self) -> float:
        """The value the report shows."""
        return self.rate if self.value is None else self.value


@dataclass(frozen=True)
class Target:
    """A goal for a scenario's headline value: at least `minimum` and/or at most `maximum`."""

    minimum: float | None = None
    maximum: float | None = None

    def met(self, value: float) -> bool:
        """Say whether `value` reaches the goal."""
        return (self.minimum is None or value >= self.minimum) and (self.maximum is None or value <= self.maximum)

    def label(self) -> str:
        """The goal as text, e.g. `≥ 2,000`."""
        parts = []
        if self.minimum is not None:
            parts.append(f"≥ {_figure(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"≤ {_figure(self.maximum)}")
        return " and ".join(parts)


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:g}"


@dataclass
class Context:
    """What every scenario gets: the servers, the budget, and setup shared between scenarios."""

    stack: Stack
    budget: Budget
    _shared: dict[str, Any] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    _closers: dict[str, Callable[[], None]] = field(default_factory=dict)
    _remembered: dict[str, Measurement] = field(default_factory=dict)

    def on_close(self, key: str, closer: Callable[[], None]) -> None:
        """Run `closer` once (per key) when the run ends, e.g. to stop a system several scenarios share."""
        self._closers.setdefault(key, closer)

    def close(self) -> None:
        """Run the closers, newest first."""
        for closer in reversed(list(self._closers.values())):
            closer()
        self._closers.clear()

    def remember(self, key: str, measurement: Measurement) -> None:
        """Keep a measurement for a later scenario that compares two (e.g. the gateway's cost)."""
        self._remembered[key] = measurement

    def recalled(self, key: str) -> Measurement:
        """A measurement kept by an earlier scenario of this run."""
        if key not in self._remembered:
            raise RuntimeError(f"{key} did not run before this scenario (run it in the same bench)")
        return self._remembered[key]

    @staticmethod
    def unique(stem: str) -> str:
        """Return `stem` with a random suffix, for schemas, prefixes and table names of one scenario."""
        return f"{stem}{secrets.token_hex(3)}"

    async def shared(self, key: str, factory: Callable[[], Awaitable[Any]]) -> Any:
        """Build a fixture once per run (e.g. a pre-filled stream) and hand the same one to every caller."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._shared:
                self._shared[key] = await factory()
            return self._shared[key]


Runner = Callable[[Context], Awaitable[Measurement]]


@dataclass(frozen=True)
class Scenario:
    """One row of the report: how to measure it, what it means, and which raw limit it is compared with."""

    name: str
    figure: str
    unit: str
    run: Runner
    raw: str | None = None
    target: Target | None = None
    latency_of: str = "per tx"
    """What one latency sample times, shown beside the percentiles."""

    @property
    def group(self) -> str:
        """The part of the name before the first dot (`raw`, `store`, ...)."""
        return self.name.split(".", 1)[0]


AsyncOp = Callable[[], Awaitable[int]]
SyncOp = Callable[[], int]


async def run_workers(make_op: Callable[[int], AsyncOp], workers: int, budget: Budget) -> Measurement:
    """Run `workers` concurrent loops of an operation (returning items done), warmed up, then timed."""
    ops = [make_op(i) for i in range(workers)]
    await _drive_async(ops, budget.warmup_s, None)
    return await _drive_async(ops, budget.seconds, budget.max_items)


async def _drive_async(ops: Sequence[AsyncOp], seconds: float, max_items: int | None) -> Measurement:
    latencies: list[float] = []
    done = 0
    cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    async def loop(op: AsyncOp) -> None:
        nonlocal done
        while time.perf_counter() < deadline and (max_items is None or done < max_items):
            began = time.perf_counter()
            items = await op()  # awaited first: `done += await op()` would lose other workers' updates
            latencies.append(time.perf_counter() - began)
            done += items

    await asyncio.gather(*(loop(op) for op in ops))
    return Measurement(done, time.perf_counter() - start, latencies, cpu_s=time.process_time() - cpu)


def run_threads(make_op: Callable[[int], SyncOp], workers: int, budget: Budget) -> Measurement:
    """Run `workers` threads looping over a blocking operation, warmed up, then timed."""
    ops = [make_op(i) for i in range(workers)]
    _drive_threads(ops, budget.warmup_s, None)
    return _drive_threads(ops, budget.seconds, budget.max_items)


def _drive_threads(ops: Sequence[SyncOp], seconds: float, max_items: int | None) -> Measurement:
    latencies: list[float] = []
    done = 0
    lock = threading.Lock()
    cpu = time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    def loop(op: SyncOp) -> None:
        nonlocal done
        while time.perf_counter() < deadline and (max_items is None or done < max_items):
            began = time.perf_counter()
            items = op()
            elapsed = time.perf_counter() - began
            with lock:
                done += items
                latencies.append(elapsed)

    threads = [threading.Thread(target=loop, args=(op,), daemon=True) for op in ops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Measurement(done, time.perf_counter() - start, latencies, cpu_s=time.process_time() - cpu)


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float] | None:
    """Return p50, p95, p99 (nearest rank) and max of latencies in seconds, as milliseconds."""
    if not samples_s:
        return None
    ordered = sorted(samples_s)
    last = len(ordered) - 1

    def rank(q: float) -> float:
        return ordered[min(last, max(0, round(q * len(ordered)) - 1))] * 1000

    return {"p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1] * 1000}


async def wait_until(check: Callable[[], bool], timeout_s: float, poll_s: float = 0.005) -> bool:
    """Poll `check` until it holds or `timeout_s` passes; return whether it held."""
    deadline = time.perf_counter() + timeout_s
    while not check():
        if time.perf_counter() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True
