"""What the actions service plugs in for outbound webhooks: routes, the projection, consumers and the worker."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions.config import Settings
from cxm_actions.outbound import api
from cxm_actions.outbound.deliveries import CACHE, Dispatcher, SubscriptionCache, WorkerSettings, enqueue
from cxm_actions.outbound.event_types import DELIVERED_SERVICES
from cxm_actions.outbound.subscriptions import PROJECTION
from cxm_actions.outbound.targets import Resolver, TargetPolicy, system_resolver
from cxm_actions.outbound.transport import guarded_client
from cxm_common.consumer import Subscription
from cxm_common.crypto import KeyRing
from cxm_common.envelope import Envelope
from cxm_common.projections import Projection
from cxm_common.service import Background, Runtime


@dataclass
class OutboundContext:
    """The outbound collaborators of one process."""

    runtime: Runtime
    settings: Settings
    policy: TargetPolicy
    resolve: Resolver
    cache: SubscriptionCache
    keyring: KeyRing | None


_built: dict[int, OutboundContext] = {}


def build(runtime: Runtime, *, resolve: Resolver | None = None) -> OutboundContext:
    """The context of a runtime, made once (a resolver given here replaces the system's, for tests)."""
    found = _built.get(id(runtime))
    if found is not None and found.runtime is runtime and resolve is None:
        return found
    settings = runtime.settings
    assert isinstance(settings, Settings)
    ctx = OutboundContext(
        runtime=runtime,
        settings=settings,
        policy=TargetPolicy.of(settings.outbound_allow_private, settings.outbound_allowed_hosts),
        resolve=resolve or system_resolver,
        cache=CACHE,
        keyring=runtime.keyring,
    )
    _built[id(runtime)] = ctx
    return ctx


def routers(runtime: Runtime) -> list[APIRouter]:
    """`/v1/subscriptions…`."""
    return api.routers(build(runtime))


def projection() -> Projection:
    """The `subscriptions` read model, projected from `actions.subscription.*`."""
    return PROJECTION


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """One durable consumer per delivered service's stream (`outbound_insight`, …), every event type."""
    cache = build(runtime).cache

    async def on_events(conn: AsyncConnection, events: list[Envelope]) -> None:
        await enqueue(conn, events, cache=cache)

    return [
        Subscription(f"outbound_{service}", service, [f"{service}.>"], batch_handler=on_events)
        for service in DELIVERED_SERVICES
    ]


def worker_settings(settings: Settings) -> WorkerSettings:
    """The worker's pacing and bounds from the service settings."""
    return WorkerSettings(
        interval_s=settings.outbound_interval_s,
        timeout_s=settings.outbound_timeout_s,
        max_attempts=settings.outbound_max_attempts,
        concurrency=settings.outbound_concurrency,
    )


def scheduler(runtime: Runtime, *, backoff_s: Sequence[float] | None = None) -> Background:
    """The delivery worker, run by the `schedule` (or `all`) role; `backoff_s` overrides the retry schedule."""
    ctx = build(runtime)
    settings = worker_settings(ctx.settings)
    if backoff_s is not None:
        settings = replace(settings, backoff_s=tuple(backoff_s))

    async def run(stop: asyncio.Event) -> None:
        client = guarded_client(
            ctx.policy, ctx.resolve, timeout_s=settings.timeout_s, max_connections=settings.concurrency
        )
        dispatcher = Dispatcher(
            runtime.engine, ctx.keyring, client, settings, cache=ctx.cache, on_commit=runtime.committed
        )
        await dispatcher.run(stop)

    return run
