"""Journey's HTTP edge: parse, call a command or query, map errors to status codes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.auth import scoped
from cxm_common.db import set_tenant
from cxm_common.eventstore import retry_on_conflict
from cxm_common.periods import bounded, period
from cxm_common.problems import StrictJsonRoute
from cxm_journey import queries, stage_maps
from cxm_journey.domain.funnels import FunnelStep
from cxm_journey.domain.stages import stage_map_to_dict
from cxm_journey.wiring import JourneyContext

Reader = Annotated[uuid.UUID, Depends(scoped("journeys:read"))]
Admin = Annotated[uuid.UUID, Depends(scoped("admin"))]
T = TypeVar("T")
DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class FunnelStepIn(Strict):
    """One funnel step: an interaction name, or a stage."""

    kind: Literal["interaction", "stage"] = "interaction"
    value: str = Field(min_length=1, max_length=128)


class FunnelIn(Strict):
    """Ordered steps, within a window from the first step (ISO 8601 duration, e.g. P7D or PT12H)."""

    steps: list[FunnelStepIn | Annotated[str, Field(min_length=1, max_length=128)]] = Field(min_length=2, max_length=12)
    within: str = Field(default="P30D", max_length=32)
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class StageRuleIn(Strict):
    """Which interaction names (globs allowed) and touchpoints put a customer in a stage."""

    stage: str = Field(min_length=1, max_length=64)
    names: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=list, max_length=200)
    touchpoints: list[Annotated[str, Field(min_length=1, max_length=128)]] = Field(default_factory=list, max_length=200)


class StageMapIn(Strict):
    """A stage map: ordered stages and the rules that place steps in them."""

    stages: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=50)
    rules: list[StageRuleIn] = Field(max_length=500)
    support_stages: list[str] = Field(default_factory=lambda: ["support"], max_length=50)
    terminal_stages: list[str] = Field(default_factory=lambda: ["churned"], max_length=50)
    steady_stages: list[str] = Field(default_factory=lambda: ["usage"], max_length=50)


def duration(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours and minutes (ValueError otherwise)."""
    match = DURATION.match(text)
    if not match or not any(match.groups()):
        raise ValueError(f"`within` must be an ISO 8601 duration such as P7D or PT12H, not {text!r}")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    value = timedelta(days=days, hours=hours, minutes=minutes)
    if not timedelta(minutes=1) <= value <= timedelta(days=3660):
        raise ValueError("`within` must be between one minute and ten years")
    return value


From = Annotated[datetime | None, Query(alias="from", description="Start (inclusive), with a time zone")]
To = Annotated[datetime | None, Query(alias="to", description="End (exclusive), with a time zone; default now")]


def routers(ctx: JourneyContext) -> list[APIRouter]:
    """Journey's public routes."""
    router = APIRouter(route_class=StrictJsonRoute, tags=["journeys"])
    engine = ctx.runtime.engine
    s = ctx.settings

    async def read(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            return await work(conn)

    @router.get("/v1/journeys/customers/{customer_id}", summary="A customer's timeline, stage and churn risk")
    async def get_customer(customer_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: queries.timeline(conn, tenant, customer_id))
        if found is None:
            raise HTTPException(404, f"No journey for customer {customer_id}.")
        return found

    @router.get("/v1/journeys/paths", summary="Stage-to-stage transitions (Sankey edges) and top paths")
    async def get_paths(
        tenant: Reader,
        from_: From = None,
        to: To = None,
        segment: Annotated[str | None, Query(max_length=128)] = None,
        top: Annotated[int, Query(ge=1, le=100)] = 10,
    ) -> dict[str, Any]:
        since, until = period(from_, to)
        first, last = since.date(), (until - timedelta(microseconds=1)).date() + timedelta(days=1)
        return await read(tenant, lambda conn: queries.paths(conn, tenant, first, last, segment, top))

    @router.post("/v1/journeys/funnels", summary="Conversion through ordered steps within a window")
    async def post_funnel(body: FunnelIn, tenant: Reader) -> dict[str, Any]:
        try:
            within = duration(body.within)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        steps = [
            FunnelStep("interaction", x) if isinstance(x, str) else FunnelStep(x.kind, x.value) for x in body.steps
        ]
        since, until = period(body.from_, body.to)
        return await read(tenant, lambda conn: queries.funnel(conn, tenant, steps, within, since, until))

    @router.get(
        "/v1/journeys/stages", summary="Per stage: customers, entries, exits, scores, FCR, abandonment, friction"
    )
    async def get_stages(
        tenant: Reader,
        from_: From = None,
        to: To = None,
        repeat_window_h: Annotated[float | None, Query(gt=0, le=24 * 90)] = None,
    ) -> dict[str, Any]:
        since, until = period(from_, to)
        window = timedelta(hours=repeat_window_h or s.repeat_window_h)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            stage_map = await ctx.stage_maps.current(conn, tenant)
            stats = await queries.stages(
                conn, tenant, stage_map, since, until, datetime.now(UTC), timedelta(hours=s.abandon_after_h), window
            )
            fcr = await queries.contacts(conn, tenant, stage_map, since, until, window)
            return {"stages": [queries.stats_out(x) for x in stats], "first_contact_resolution": fcr}

        found = await read(tenant, work)
        return {"from": since, "to": until, "repeat_window_h": window.total_seconds() / 3600, **found}

    @router.get("/v1/journeys/friction", summary="Friction points ranked by impact, with evidence")
    async def get_friction(tenant: Reader, from_: From = None, to: To = None) -> dict[str, Any]:
        since, until = period(from_, to)

        async def work(conn: AsyncConnection) -> list[dict[str, Any]]:
            stage_map = await ctx.stage_maps.current(conn, tenant)
            return await queries.friction(
                conn, tenant, stage_map, since, until, datetime.now(UTC), timedelta(hours=s.abandon_after_h),
                timedelta(hours=s.repeat_window_h),
            )  # fmt: skip

        return {"from": since, "to": until, "friction": await read(tenant, work)}

    @router.get("/v1/journeys/at-risk", summary="Customers ranked by churn risk, with reasons and value at stake")
    async def get_at_risk(
        tenant: Reader,
        level: Literal["medium", "high"] | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        items = await read(tenant, lambda conn: queries.at_risk(conn, tenant, level, limit))
        value = sum(i["value"] or 0.0 for i in items)
        return {"customers": items, "value_at_risk": value}

    @router.get("/v1/journeys/at-risk/backtest", summary="How well churn risk foresaw actual cancellations")
    async def get_backtest(
        tenant: Reader,
        cutoff: datetime,
        horizon_days: Annotated[int, Query(ge=1, le=365)] = 30,
        threshold: Literal["medium", "high"] = "high",
    ) -> dict[str, Any]:
        at = bounded(cutoff, "cutoff")
        assert at is not None

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            stage_map = await ctx.stage_maps.current(conn, tenant)
            return await queries.risk_backtest(conn, tenant, stage_map, at, timedelta(days=horizon_days), threshold)

        return await read(tenant, work)

    @router.get("/v1/journeys/stage-map", summary="The tenant's current stage map")
    async def get_stage_map(tenant: Reader) -> dict[str, Any]:
        stage_map = await read(tenant, lambda conn: ctx.stage_maps.current(conn, tenant))
        return {**stage_map_to_dict(stage_map), "version": stage_map.version}

    @router.put("/v1/journeys/stage-map", summary="Save a new stage map version and re-derive history with it")
    async def put_stage_map(body: StageMapIn, tenant: Admin) -> dict[str, Any]:
        async def once() -> dict[str, Any]:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                try:
                    return await stage_maps.put_stage_map(conn, ctx.stage_maps, tenant, body.model_dump())
                except ValueError as exc:
                    raise HTTPException(422, str(exc)) from exc

        result = await retry_on_conflict(once, attempts=8)
        ctx.runtime.committed()
        return result

    @router.get("/v1/journeys/stage-map/rederivations/{job_id}", summary="Progress of re-deriving history")
    async def get_rederivation(job_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: stage_maps.rederivation(conn, tenant, job_id))
        if found is None:
            raise HTTPException(404, f"No re-derivation {job_id}.")
        return found

    return [router]
