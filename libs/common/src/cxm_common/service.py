"""One service process: its API, relay, consumers and schedulers, wired from a `ServiceSpec`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cxm_common import jetstream
from cxm_common.aio import sleep_or_stop
from cxm_common.consumer import ConsumerRunner, Subscription
from cxm_common.crypto import KeyRing, MasterKey
from cxm_common.db import create_engine
from cxm_common.http import InternalAuthMiddleware, ObservabilityMiddleware, ops_router
from cxm_common.migrations import applied_revision, script_head
from cxm_common.observability import setup_logging, setup_tracing
from cxm_common.problems import install_problem_handlers
from cxm_common.projections import Projection
from cxm_common.settings import CommonSettings

log = logging.getLogger(__name__)

ROLES = ("all", "api", "consume", "publish", "schedule")
Background = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def every(seconds: float, work: Callable[[], Awaitable[object]], name: str) -> Background:
    """A scheduler that runs `work` every `seconds` until the process stops (a failed round is retried next time)."""

    async def loop(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await work()
            except Exception:
                log.exception("%s round failed; retrying in %.0fs", name, seconds)
            await sleep_or_stop(stop, seconds)

    return loop


def _none(_: Runtime) -> Sequence[Any]:
    return ()


@dataclass(frozen=True)
class ServiceSpec:
    """What makes a service: its name (= schema), settings, migrations, routes, subscriptions and projections."""

    name: str
    title: str
    settings_factory: Callable[[], CommonSettings]
    migrations: Path
    default_port: int
    routers: Callable[[Runtime], Sequence[APIRouter]] = _none
    subscriptions: Callable[[Runtime], Sequence[Subscription]] = _none
    projections: Callable[[], Sequence[Projection]] = tuple
    schedulers: Callable[[Runtime], Sequence[Background]] = _none
    publishes: bool = True
    trusts_gateway: bool = True
    configure: Callable[[Runtime, FastAPI], None] | None = None
    nice: int = 0
    """How much lower `cxm up` runs this service's CPU priority: analysis yields to acknowledging requests."""
    reanalyze: Callable[..., Awaitable[int]] | None = None
    """Re-derive history with current models/definitions as new events: `(engine, *, since, tenant, rate,
    progress) -> jobs`; the running service does the work, throttled and resumable (`cxm reanalyze SERVICE`)."""

    @property
    def schema(self) -> str:
        """The Postgres schema this service owns."""
        return self.name

    @property
    def runtime_role(self) -> str:
        """The least-privilege database role the service runs as in production."""
        return f"cxm_{self.name}"


@dataclass
class Runtime:
    """Live resources of one process: engine, NATS, relay and consumer runners. Built and closed by the app."""

    spec: ServiceSpec
    settings: CommonSettings
    role: str = "all"
    engine: AsyncEngine = field(init=False)
    nc: NATS | None = None
    js: JetStreamContext | None = None
    relay: Any = None
    runners: list[ConsumerRunner] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    head: str | None = None
    keyring: KeyRing | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; choose one of {', '.join(ROLES)}")
        s = self.settings
        self.engine = create_engine(
            s.database_url,
            self.spec.schema,
            application_name=f"cxm-{self.spec.name}-{self.role}",
            pool_size=s.db_pool_size,
            max_overflow=s.db_max_overflow,
            pool_timeout=s.db_pool_timeout_s,
        )
        self.head = script_head(self.spec.migrations)
        self.keyring = KeyRing(MasterKey(s.master_key)) if s.master_key else None

    @property
    def runs_relay(self) -> bool:
        """Whether this process publishes the outbox."""
        return self.spec.publishes and self.role in ("all", "publish")

    @property
    def runs_consumers(self) -> bool:
        """Whether this process consumes other services' events."""
        return self.role in ("all", "consume")

    @property
    def needs_nats(self) -> bool:
        """Whether readiness depends on NATS (the API keeps accepting writes while NATS is away)."""
        return self.runs_relay or self.runs_consumers

    def committed(self) -> None:
        """Tell the in-process relay that new events were committed, to publish them at once."""
        if self.relay is not None:
            self.relay.wake()

    async def start(self) -> None:
        """Start background work; NATS is connected in the background so the API can start without it."""
        self.tasks.append(asyncio.create_task(self._nats_then_workers(), name="nats-workers"))
        if self.role in ("all", "schedule"):
            for scheduler in self.spec.schedulers(self):
                self.tasks.append(asyncio.create_task(scheduler(self.stop), name="scheduler"))

    async def _nats_then_workers(self) -> None:
        s = self.settings
        delay = 0.2
        while not self.stop.is_set():
            try:
                self.nc = await jetstream.connect(s.nats_url, name=f"cxm-{self.spec.name}-{self.role}")
                break
            except Exception as exc:
                log.warning("NATS not reachable at %s (%r); retrying", s.nats_url, exc)
                await sleep_or_stop(self.stop, delay)
                delay = min(delay * 2, 5.0)
        if self.nc is None:
            return
        self.js = self.nc.jetstream(timeout=10)
        if self.spec.publishes:
            await _retry_until(self.stop, lambda: self._ensure_stream())
        workers: list[Awaitable[None]] = []
        if self.runs_relay:
            from cxm_common.relay import Relay

            assert self.js is not None
            self.relay = Relay(
                self.engine,
                self.js,
                self.spec.name,
                prefix=s.nats_prefix,
                batch_size=s.relay_batch_size,
                idle_poll_s=s.relay_idle_poll_s,
                # In one process every commit wakes the relay, so idle polls only catch other writers' commits.
                max_idle_poll_s=max(s.relay_max_idle_poll_s, 1.0) if self.role == "all" else s.relay_max_idle_poll_s,
                keyring=self.keyring,
            )
            workers.append(self.relay.run(self.stop))
        if self.runs_consumers:
            for sub in self.spec.subscriptions(self):
                runner = self.consumer_runner(sub)
                self.runners.append(runner)
                workers.append(_retry_until(self.stop, partial(runner.run, self.stop)))
        await asyncio.gather(*workers)

    def consumer_runner(self, sub: Subscription, factory: type[ConsumerRunner] = ConsumerRunner) -> ConsumerRunner:
        """The runner of one subscription, configured from the settings (`factory` lets the bench time it)."""
        assert self.js is not None
        s = self.settings
        return factory(
            consumer=self.spec.name,
            subscription=sub,
            engine=self.engine,
            js=self.js,
            prefix=s.nats_prefix,
            batch_size=s.consumer_batch_size,
            max_deliver=s.consumer_max_deliver,
            backoff_s=s.consumer_backoff_s,
            ack_wait_s=s.consumer_ack_wait_s,
            max_ack_pending=s.consumer_max_ack_pending,
            on_commit=self.committed,
        )

    async def _ensure_stream(self) -> None:
        assert self.js is not None
        s = self.settings
        await jetstream.ensure_stream(
            self.js,
            self.spec.name,
            prefix=s.nats_prefix,
            max_age_s=s.stream_max_age_s,
            duplicate_window_s=s.stream_duplicate_window_s,
            replicas=s.stream_replicas,
        )

    async def close(self) -> None:
        """Stop background work (each consumer finishes its batch), drain NATS and close the pool."""
        self.stop.set()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=20)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for closer in self.on_close:
            with contextlib.suppress(Exception):
                await closer()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.drain(), timeout=5)
        await self.engine.dispose()

    async def readiness(self) -> dict[str, Any]:
        """Check the database, the migrations and (for relay and consumer roles) NATS."""
        checks: dict[str, Any] = {}
        try:
            async with asyncio.timeout(2):
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                    applied = await applied_revision(conn, self.spec.schema)
            checks["database"] = "ok"
            checks["migrations"] = "ok" if applied == self.head else f"at {applied}, code expects {self.head}"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
            checks["migrations"] = "unknown"
        nats_ok = self.nc is not None and self.nc.is_connected
        checks["nats"] = "ok" if nats_ok else "unavailable"
        ready = checks["database"] == "ok" and checks["migrations"] == "ok" and (nats_ok or not self.needs_nats)
        return {"ready": ready, "service": self.spec.name, "role": self.role, "checks": checks}


KEEP_ALIVE_S = 75
NO_FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def create_app(spec: ServiceSpec, role: str = "all", settings: CommonSettings | None = None) -> FastAPI:
    """Build the FastAPI app of one service process; resources live in its lifespan."""
    settings = settings or spec.settings_factory()
    runtime = Runtime(spec, settings, role)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.close()

    # FastAPI's own telemetry would trace every request a second time (and each dependency and serialisation):
    # `ObservabilityMiddleware` already makes the one server span and the latency metric.
    app = FastAPI(title=spec.title, version="1.0.0", lifespan=lifespan, telemetry=NO_FASTAPI_TELEMETRY)
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.include_router(ops_router(runtime.readiness))
    if role in ("all", "api"):
        for router in spec.routers(runtime):
            app.include_router(router)
    if spec.configure is not None:
        spec.configure(runtime, app)
    if spec.trusts_gateway:
        app.add_middleware(InternalAuthMiddleware, secret=settings.internal_token_secret)
    app.add_middleware(ObservabilityMiddleware, service=spec.name)
    return app


GC_GEN0_THRESHOLD = 50_000


def tune_gc() -> None:
    """Keep what start-up built out of the collector's scans and collect the young generation less often."""
    # A consumer allocates tens of thousands of short-lived objects per batch: at the default threshold (700) the
    # collector runs dozens of times per batch, each time walking everything still alive.
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def main(spec: ServiceSpec, argv: Sequence[str] | None = None) -> None:
    """Command line of a service: `python -m cxm_<service> [all|api|consume|publish|schedule]`."""
    import uvicorn

    parser = argparse.ArgumentParser(prog=f"cxm-{spec.name}", description=spec.title)
    parser.add_argument("role", nargs="?", default="all", choices=ROLES)
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    settings = spec.settings_factory()
    setup_logging(spec.name, settings.log_level, settings.log_format)
    setup_tracing(spec.name)
    app = create_app(spec, args.role, settings)
    tune_gc()
    uvicorn.run(
        app,
        host=args.host or settings.host,
        port=args.port or settings.port or spec.default_port,
        log_config=None,
        access_log=False,
        # Longer than any client keeps an idle connection (the gateway's pool: 30 s; load balancers: 60 s), so the
        # server never closes one just as a client reuses it (uvicorn's 5 s default did: a 503 from the gateway).
        timeout_keep_alive=KEEP_ALIVE_S,
        timeout_graceful_shutdown=25,
        lifespan="on",
    )


async def _retry_until(stop: asyncio.Event, make: Callable[[], Awaitable[None]]) -> None:
    delay = 0.2
    while not stop.is_set():
        try:
            await make()
            return
        except Exception as exc:
            log.warning("background work failed (%r); restarting in %.1fs", exc, delay)
            await sleep_or_stop(stop, delay)
            delay = min(delay * 2, 5.0)
