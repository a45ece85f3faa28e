"""The actions service as the runtime sees it: schema, migrations, routes, subscriptions, projections, schedulers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from cxm_actions import api
from cxm_actions import contracts as c
from cxm_actions.config import Settings
from cxm_actions.outbound import wiring as outbound
from cxm_actions.projections import ACTIONS_READ_MODELS
from cxm_actions.wiring import build
from cxm_common.consumer import Subscription
from cxm_common.service import Background, Runtime, ServiceSpec, every

log = logging.getLogger(__name__)


def routers(runtime: Runtime) -> Sequence[APIRouter]:
    """Every public route of actions, outbound webhook subscriptions included."""
    return [*api.routers(build(runtime)), *outbound.routers(runtime)]


def subscriptions(runtime: Runtime) -> Sequence[Subscription]:
    """Findings to act on and the facts behind context cards and impact, from insight, journey and ingest."""
    handler = build(runtime).automation.on_event
    return [
        Subscription("insight", "insight", [c.FEEDBACK_ANALYZED, c.ALERT_RAISED], handler=handler),
        Subscription(
            "journey", "journey", [c.STEP_RECORDED, c.CHURN_RISK_CHANGED, c.FRICTION_DETECTED], handler=handler
        ),
        Subscription("customers", "ingest", [c.CUSTOMER_UPDATED, c.CUSTOMER_ERASED_INGEST], handler=handler),
        *outbound.subscriptions(runtime),
    ]


def schedulers(runtime: Runtime) -> Sequence[Background]:
    """The SLA clock, impact measurement and outbound webhook deliveries."""
    ctx = build(runtime)
    s = ctx.settings

    async def sla() -> None:
        if await ctx.sla.round():
            runtime.committed()

    async def impact() -> None:
        if await ctx.impact.round():
            runtime.committed()

    return [
        every(s.sla_interval_s, sla, "SLA clock"),
        every(s.impact_interval_s, impact, "impact measurement"),
        outbound.scheduler(runtime),
    ]


SPEC = ServiceSpec(
    name="actions",
    title="cxm actions",
    settings_factory=Settings,
    migrations=Path(__file__).parent / "migrations",
    default_port=8084,
    nice=10,
    routers=routers,
    subscriptions=subscriptions,
    projections=lambda: [ACTIONS_READ_MODELS, outbound.projection()],
    schedulers=schedulers,
)
