"""The ingest service as the runtime sees it: schema, migrations, routes and read models."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from cxm_common.aio import sleep_or_stop
from cxm_common.consumer import Subscription
from cxm_common.db import ALL_TENANTS, driver, set_tenant
from cxm_common.service import Background, Runtime, ServiceSpec
from cxm_ingest import api, connections, webhooks
from cxm_ingest.config import Settings
from cxm_ingest.handlers import confirm_erasure
from cxm_ingest.projections import INGEST_READ_MODELS
from cxm_ingest.reviews.poller import ReviewPoller
from cxm_ingest.wiring import build


def routers(runtime: Runtime) -> Sequence[APIRouter]:
    """Every public route of ingest."""
    ctx = build(runtime)
    return [*api.routers(ctx), *connections.routers(ctx), *webhooks.routers(ctx)]


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    """Other services' confirmations that their part of an erasure is done."""
    settings = runtime.settings
    assert isinstance(settings, Settings)
    return [
        Subscription(f"erasures_{name}", name, [f"{name}.customer.erased.v1"], handler=confirm_erasure)
        for name in settings.erasure_services
        if name != "ingest"
    ]


def schedulers(runtime: Runtime) -> Sequence[Background]:
    """Housekeeping (forget deliveries and idempotency keys past their retention) and the app-store review poller."""
    settings = runtime.settings
    assert isinstance(settings, Settings)

    async def prune(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                async with runtime.engine.begin() as conn:
                    await set_tenant(conn, ALL_TENANTS)
                    pg = await driver(conn)
                    days = f"{settings.delivery_retention_days} days"
                    await pg.execute("DELETE FROM deliveries WHERE received_at < now() - $1::interval", days)
                    await pg.execute("DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", days)
            except Exception:  # housekeeping retries on its next round
                pass
            await sleep_or_stop(stop, 3600)

    return [prune, ReviewPoller(build(runtime)).run]


SPEC = ServiceSpec(
    name="ingest",
    title="cxm ingest",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8081,
    routers=routers,
    subscriptions=subscriptions,
    projections=lambda: [INGEST_READ_MODELS, connections.CONNECTIONS],
    schedulers=schedulers,
)
