"""The insight service as the runtime sees it: schema, migrations, routes, subscriptions, projections, schedulers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from cxm_common.consumer import Subscription
from cxm_common.service import Background, Runtime, ServiceSpec, every
from cxm_insight import api
from cxm_insight import contracts as c
from cxm_insight.config import Settings
from cxm_insight.projections import INSIGHT_READ_MODELS
from cxm_insight.reanalysis import reanalyze_command
from cxm_insight.wiring import build

log = logging.getLogger(__name__)


def routers(runtime: Runtime) -> Sequence[APIRouter]:
    """Every public route of insight."""
    return api.routers(build(runtime))


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    """Feedback to analyse, and customers' attributes and erasures."""
    ctx = build(runtime)
    return [
        Subscription("feedback", "ingest", [c.INGEST_FEEDBACK_RECEIVED], batch_handler=ctx.analysis.on_feedback),
        Subscription(
            "customers",
            "ingest",
            [c.INGEST_CUSTOMER_UPDATED, c.INGEST_CUSTOMER_MERGED, c.INGEST_CUSTOMER_ERASED],
            handler=ctx.customers.on_event,
        ),
    ]


def schedulers(runtime: Runtime) -> Sequence[Background]:
    """Alert detection, model training, theme discovery and re-analysis jobs."""
    ctx = build(runtime)
    s = ctx.settings

    async def reanalyses() -> None:
        for tenant, job in await ctx.reanalyzer.running():
            await ctx.reanalyzer.run(tenant, job, runtime.stop)

    async def detect() -> None:
        if await ctx.detector.round():
            runtime.committed()

    async def train() -> None:
        if await ctx.trainer.round():
            runtime.committed()

    async def discover() -> None:
        if await ctx.discovery.round():
            runtime.committed()

    return [
        every(s.alert_interval_s, detect, "alert detection"),
        every(s.train_interval_s, train, "model training"),
        every(s.theme_interval_s, discover, "theme discovery"),
        every(2.0, reanalyses, "re-analysis"),
    ]


SPEC = ServiceSpec(
    name="insight",
    title="cxm insight",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8082,
    nice=10,
    routers=routers,
    subscriptions=subscriptions,
    projections=lambda: [INSIGHT_READ_MODELS],
    schedulers=schedulers,
    reanalyze=reanalyze_command,
)
