"""The journey service as the runtime sees it: schema, migrations, routes, subscriptions, projections, schedulers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from cxm_common.consumer import Subscription
from cxm_common.service import Background, Runtime, ServiceSpec, every
from cxm_journey import api
from cxm_journey import contracts as c
from cxm_journey.config import Settings
from cxm_journey.profiles import on_customer_events
from cxm_journey.projections import JOURNEY_READ_MODELS
from cxm_journey.timeline import customer_of
from cxm_journey.wiring import build

log = logging.getLogger(__name__)


def routers(runtime: Runtime) -> Sequence[APIRouter]:
    """Every public route of journey."""
    return api.routers(build(runtime))


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    """Interactions (ingest) and analysed feedback (insight) onto timelines; customers' attributes and erasures."""
    ctx = build(runtime)
    return [
        Subscription(
            "interactions",
            "ingest",
            [c.INTERACTION_RECORDED],
            batch_handler=ctx.timeline.on_events,
            lanes=ctx.settings.consumer_lanes,
            lane_key=customer_of,
        ),
        Subscription(
            "feedback",
            "insight",
            [c.FEEDBACK_ANALYZED],
            batch_handler=ctx.timeline.on_events,
            lanes=ctx.settings.consumer_lanes,
            lane_key=customer_of,
        ),
        Subscription(
            "customers",
            "ingest",
            [c.CUSTOMER_UPDATED, c.CUSTOMER_MERGED, c.CUSTOMER_ERASED_INGEST],
            batch_handler=on_customer_events,
        ),
    ]


def schedulers(runtime: Runtime) -> Sequence[Background]:
    """Friction detection, the churn-risk sweep and stage-map re-derivations."""
    ctx = build(runtime)
    s = ctx.settings

    async def detect() -> None:
        if await ctx.friction.round():
            runtime.committed()

    async def sweep() -> None:
        if await ctx.risk.round():
            runtime.committed()

    async def rederive() -> None:
        for tenant, job in await ctx.rederiver.running():
            await ctx.rederiver.run(tenant, job, runtime.stop)
            runtime.committed()

    return [
        every(s.friction_interval_s, detect, "friction detection"),
        every(s.risk_interval_s, sweep, "churn-risk sweep"),
        every(2.0, rederive, "stage-map re-derivation"),
    ]


SPEC = ServiceSpec(
    name="journey",
    title="cxm journey",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8083,
    nice=10,
    routers=routers,
    subscriptions=subscriptions,
    projections=lambda: [JOURNEY_READ_MODELS],
    schedulers=schedulers,
)
