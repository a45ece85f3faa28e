"""Insight's HTTP edge: parse, call a command or query, map errors to status codes."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_common.auth import scoped
from cxm_common.db import set_tenant
from cxm_common.eventstore import retry_on_conflict
from cxm_common.periods import bounded, period
from cxm_common.problems import StrictJsonRoute
from cxm_insight import commands, insights, queries, reanalysis, series
from cxm_insight.commands import Conflict, LabelIn, NotFound
from cxm_insight.nlp.analysis import AnalysisInput
from cxm_insight.nlp.redaction import redact
from cxm_insight.nlp.taxonomy import taxonomy_to_dict
from cxm_insight.wiring import InsightContext

Writer = Annotated[uuid.UUID, Depends(scoped("insights:write"))]
Reader = Annotated[uuid.UUID, Depends(scoped("insights:read"))]
Admin = Annotated[uuid.UUID, Depends(scoped("admin"))]
T = TypeVar("T")

Metric = Literal["nps", "csat", "ces", "ces_easy", "sentiment", "negative_share", "positive_share", "volume"]
GroupBy = Literal["channel", "source", "topic", "segment", "agent", "team", "intent", "touchpoint"]


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class TopicIn(Strict):
    """One topic of a taxonomy."""

    id: str = Field(min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=500)
    keywords: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=100)
    examples: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(default_factory=list, max_length=50)


class TaxonomyIn(Strict):
    """A taxonomy definition: its topics (a new version each time it is saved)."""

    topics: list[TopicIn] = Field(min_length=1, max_length=200)


class LabelItem(Strict):
    """A person's correction: of a stored feedback (`feedback_id`) or of a text given here."""

    feedback_id: uuid.UUID | None = None
    text: str | None = Field(default=None, min_length=1, max_length=10_000)
    sentiment: Literal["negative", "neutral", "positive"] | None = None
    topics: list[Annotated[str, Field(min_length=1, max_length=48)]] = Field(default_factory=list, max_length=20)


class LabelsIn(Strict):
    """Up to 5,000 corrections at once."""

    labels: list[LabelItem] = Field(min_length=1, max_length=5000)


class AnalyzeItem(Strict):
    """A text (and optional scores) to analyse without storing anything."""

    text: str | None = Field(default=None, max_length=20_000)
    nps: int | None = Field(default=None, ge=0, le=10)
    csat: int | None = Field(default=None, ge=1, le=5)
    ces: int | None = Field(default=None, ge=1, le=7)


class AnalyzeIn(Strict):
    """Up to 500 texts to analyse with the tenant's current taxonomy and model (nothing is stored)."""

    items: list[AnalyzeItem] = Field(min_length=1, max_length=500)


class ObjectivesIn(Strict):
    """The tenant's shared targets (a new version each time)."""

    objectives: list[dict[str, Any]] = Field(max_length=100)


class AcceptThemeIn(Strict):
    """How a discovered theme joins the taxonomy."""

    name: str | None = Field(default=None, min_length=1, max_length=80)
    topic_id: str | None = Field(default=None, min_length=1, max_length=48, pattern=r"^[a-z][a-z0-9_]*$")


class ReanalysisIn(Strict):
    """Re-analyse history with the current models and taxonomy."""

    since: datetime | None = None
    rate: float | None = Field(default=None, gt=0, le=10_000)


class MetricPointOut(BaseModel):
    """One bucket of a series: its local start, the metric's value, its base and the feedback counted."""

    start: str = Field(description="Local start of the bucket, ISO 8601 with the zone's offset then")
    value: float | None = Field(description="The metric, rounded to 3 decimals; null when none of its answers came")
    n: int = Field(description="Answers the value is computed over (feedback, for volume)")
    count: int = Field(description="Feedback in the bucket")


class MetricGroupOut(BaseModel):
    """One group's series: its value over the whole period and its non-empty buckets in time order."""

    key: str
    value: float | None
    n: int
    count: int
    points: list[MetricPointOut]


class MetricSeriesOut(BaseModel):
    """A metric over time, grouped: the groups, most feedback first."""

    metric: Metric
    interval: Literal["hour", "day", "week"]
    tz: str
    group_by: GroupBy | None
    from_: datetime = Field(alias="from")
    to: datetime
    definition_version: int
    series: list[MetricGroupOut]


From = Annotated[datetime | None, Query(alias="from", description="Start (inclusive), with a time zone")]
To = Annotated[datetime | None, Query(alias="to", description="End (exclusive), with a time zone; default now")]


def routers(ctx: InsightContext) -> list[APIRouter]:
    """Insight's public routes."""
    router = APIRouter(route_class=StrictJsonRoute, tags=["insights"])
    engine = ctx.runtime.engine

    async def read(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with engine.connect() as conn, conn.begin():
            await set_tenant(conn, tenant)
            return await work(conn)

    async def write(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async def once() -> T:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                try:
                    return await work(conn)
                except NotFound as exc:
                    raise HTTPException(404, str(exc)) from exc
                except Conflict as exc:
                    raise HTTPException(409, str(exc)) from exc
                except ValueError as exc:
                    raise HTTPException(422, str(exc)) from exc

        result = await retry_on_conflict(once, attempts=8)
        ctx.runtime.committed()
        return result

    @router.get("/v1/insights/feedback/{feedback_id}", summary="One feedback's analysis")
    async def get_analysis(feedback_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: queries.analysis(conn, ctx.keyring, tenant, feedback_id))
        if found is None:
            raise HTTPException(404, f"No analysis of feedback {feedback_id} (yet).")
        return found

    @router.get(
        "/v1/insights/metrics", response_model=MetricSeriesOut, summary="A metric over time, bucketed and grouped"
    )
    async def get_metrics(
        tenant: Reader,
        metric: Metric = "nps",
        from_: From = None,
        to: To = None,
        interval: Literal["hour", "day", "week"] = "day",
        tz: Annotated[str, Query(max_length=64)] = "UTC",
        group_by: GroupBy | None = None,
        key: Annotated[list[str] | None, Query(max_length=50)] = None,
    ) -> Response:
        since, until = period(from_, to)
        q = series.SeriesQuery(metric, since, until, interval, tz, group_by, tuple(key or ()))
        try:
            series.check_series(q)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        # The statement writes the JSON (thousands of points for a year by day): passed on as bytes, not validated
        # against `MetricSeriesOut` again, which only documents it.
        found = await read(tenant, lambda conn: series.series(conn, tenant, q))
        return Response(found, media_type="application/json")

    @router.get("/v1/insights/themes", summary="Topics with volume, sentiment, trend and sample feedback")
    async def get_themes(tenant: Reader, from_: From = None, to: To = None) -> dict[str, Any]:
        since, until = period(from_, to)
        return await read(tenant, lambda conn: insights.themes(conn, tenant, since, until))

    @router.get("/v1/insights/themes/discovered", summary="Themes discovered in feedback that fits no topic")
    async def get_discovered(tenant: Reader, status: Literal["proposed", "accepted"] | None = None) -> dict[str, Any]:
        items = await read(tenant, lambda conn: queries.discovered_themes(conn, ctx.keyring, tenant, status))
        return {"themes": items}

    @router.post("/v1/insights/themes/{theme_id}/accept", summary="A discovered theme joins the taxonomy")
    async def accept_theme(theme_id: uuid.UUID, body: AcceptThemeIn, tenant: Admin) -> dict[str, Any]:
        topic, version = await write(
            tenant, lambda conn: commands.accept_theme(conn, tenant, theme_id, body.name, body.topic_id)
        )
        return {"theme_id": theme_id, "topic_id": topic, "taxonomy_version": version}

    @router.get("/v1/insights/themes/{topic}/story", summary="What customers say about a topic, in their words")
    async def get_story(
        tenant: Reader,
        topic: Annotated[str, Path(max_length=48, pattern=r"^[a-z][a-z0-9_]*$")],
        from_: From = None,
        to: To = None,
    ) -> dict[str, Any]:
        since, until = period(from_, to)
        analyzer = await ctx.models.analyzer()
        story = await read(
            tenant, lambda conn: insights.story(conn, ctx.keyring, analyzer, tenant, topic, since, until)
        )
        if story is None:
            raise HTTPException(404, f"No feedback about {topic!r} in this period.")
        return story

    @router.get("/v1/insights/drivers", summary="Which topics move NPS or CSAT, and what changed")
    async def get_drivers(
        tenant: Reader,
        outcome: Literal["nps", "csat"] = "nps",
        from_: From = None,
        to: To = None,
        compare_from: datetime | None = None,
        compare_to: datetime | None = None,
    ) -> dict[str, Any]:
        since, until = period(from_, to, default_days=90)
        before = None
        if compare_from is not None or compare_to is not None:
            before = period(compare_from, compare_to or since)
        return await read(tenant, lambda conn: insights.drivers(conn, tenant, outcome, since, until, before))

    @router.get("/v1/insights/alerts", summary="Emerging issues and metric drops, with evidence")
    async def get_alerts(
        tenant: Reader,
        status: Literal["open", "acknowledged", "resolved"] | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> dict[str, Any]:
        return {"alerts": await read(tenant, lambda conn: queries.alerts(conn, tenant, status, limit))}

    @router.post("/v1/insights/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert")
    async def acknowledge(alert_id: uuid.UUID, tenant: Writer) -> dict[str, Any]:
        status = await write(tenant, lambda conn: commands.acknowledge_alert(conn, tenant, alert_id))
        return {"id": alert_id, "status": status}

    @router.get("/v1/insights/taxonomy", summary="The tenant's current taxonomy")
    async def get_taxonomy(tenant: Reader) -> dict[str, Any]:
        version, taxonomy = await read(tenant, lambda conn: commands.current_taxonomy(conn, tenant))
        return {**taxonomy_to_dict(taxonomy), "version": version}

    @router.put("/v1/insights/taxonomy", summary="Save a new taxonomy version")
    async def put_taxonomy(body: TaxonomyIn, tenant: Admin) -> dict[str, Any]:
        taxonomy = await write(tenant, lambda conn: commands.put_taxonomy(conn, tenant, body.model_dump()))
        return {**taxonomy_to_dict(taxonomy), "version": taxonomy.version}

    @router.post("/v1/insights/labels", status_code=202, summary="Corrections the tenant's model learns from")
    async def post_labels(body: LabelsIn, tenant: Writer) -> dict[str, Any]:
        for index, item in enumerate(body.labels):
            if (item.feedback_id is None) == (item.text is None):
                raise HTTPException(422, f"labels[{index}]: give exactly one of feedback_id and text")
            if item.sentiment is None and not item.topics:
                raise HTTPException(422, f"labels[{index}]: give a sentiment, topics or both")
        labels = [LabelIn(i.feedback_id, i.text, i.sentiment, tuple(i.topics)) for i in body.labels]
        ids = await write(tenant, lambda conn: commands.record_labels(conn, ctx.keyring, tenant, labels))
        return {"accepted": len(ids), "ids": ids}

    @router.get("/v1/insights/model", summary="The tenant's learned model: labels, version, training report")
    async def get_model(tenant: Reader) -> dict[str, Any]:
        return await read(tenant, lambda conn: insights.model_status(conn, tenant))

    @router.post("/v1/insights/analyze", summary="Analyse texts with the tenant's taxonomy and model, storing nothing")
    async def analyze(body: AnalyzeIn, tenant: Writer) -> dict[str, Any]:
        async def prepare(conn: AsyncConnection) -> Any:
            return await ctx.models.taxonomy(conn, tenant), await ctx.models.tenant_model(conn, tenant)

        taxonomy, model = await read(tenant, prepare)
        redacted = [redact(i.text) if i.text else None for i in body.items]
        inputs = [
            AnalysisInput(text=r.text if r else None, nps=i.nps, csat=i.csat, ces=i.ces)
            for i, r in zip(body.items, redacted, strict=True)
        ]
        analyzer = await ctx.models.analyzer()
        results, _ = await asyncio.to_thread(analyzer.analyze, inputs, taxonomy.taxonomy, model.model)
        return {
            "model_version": analyzer.model_version,
            "taxonomy_version": taxonomy.version,
            "tenant_model_version": model.version,
            "items": [
                {**a.to_dict(), "redacted_text": r.text if r else None} for a, r in zip(results, redacted, strict=True)
            ],
        }

    @router.get("/v1/insights/objectives", summary="Shared targets and how each is doing")
    async def get_objectives(tenant: Reader) -> dict[str, Any]:
        return await read(tenant, lambda conn: insights.objectives(conn, tenant))

    @router.put("/v1/insights/objectives", summary="Save the shared targets (a new version)")
    async def put_objectives(body: ObjectivesIn, tenant: Admin) -> dict[str, Any]:
        version = await write(tenant, lambda conn: commands.put_objectives(conn, tenant, body.model_dump()))
        out = await read(tenant, lambda conn: insights.objectives(conn, tenant))
        return {**out, "version": version}

    @router.post("/v1/insights/reanalyses", status_code=202, summary="Re-analyse history (new analysis events)")
    async def post_reanalysis(body: ReanalysisIn, tenant: Admin) -> dict[str, Any]:
        since = bounded(body.since, "since")
        rate = body.rate or ctx.settings.reanalysis_rate
        return await write(tenant, lambda conn: reanalysis.create(conn, tenant, since, rate))

    @router.get("/v1/insights/reanalyses/{job_id}", summary="A re-analysis job's progress")
    async def get_reanalysis(job_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: reanalysis.get(conn, tenant, job_id))
        if found is None:
            raise HTTPException(404, f"No re-analysis {job_id}.")
        return found

    return [router]
