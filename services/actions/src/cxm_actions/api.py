"""Actions' HTTP edge: parse, call a command or query, map errors to status codes."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions import items, queries
from cxm_actions.domain.lifecycle import InvalidTransition
from cxm_actions.domain.playbook import playbook_to_dict
from cxm_actions.domain.rules import rules_to_dict
from cxm_actions.domain.sla import due_at as sla_due
from cxm_actions.wiring import ActionsContext
from cxm_common.auth import scoped
from cxm_common.db import set_tenant
from cxm_common.eventstore import retry_on_conflict
from cxm_common.pagination import limit_param
from cxm_common.periods import bounded
from cxm_common.problems import StrictJsonRoute

Reader = Annotated[uuid.UUID, Depends(scoped("actions:read"))]
Writer = Annotated[uuid.UUID, Depends(scoped("actions:write"))]
Admin = Annotated[uuid.UUID, Depends(scoped("admin"))]
T = TypeVar("T")
Status = Literal["open", "acknowledged", "in_progress", "resolved", "verified", "wont_fix"]


class Strict(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


Short = Annotated[str, Field(min_length=1, max_length=200)]


class ActionIn(Strict):
    """A new action item."""

    kind: Literal["close_loop", "improvement"]
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5000)
    priority: Literal["low", "medium", "high", "urgent"] = "medium"
    owner: Short | None = None
    team: Short | None = None
    due_at: datetime | None = None
    sla_hours: float | None = Field(default=None, gt=0, le=24 * 365)
    customer_id: uuid.UUID | None = None
    links: dict[Literal["feedback", "customer", "alert", "topic", "stage", "friction"], Short] = Field(
        default_factory=dict
    )


class TransitionIn(Strict):
    """Move an item on: `root_cause` is required to resolve a close-loop item; `at` back-dates imported history."""

    to: Status
    note: str | None = Field(default=None, max_length=5000)
    root_cause: str | None = Field(default=None, max_length=2000)
    suggestion_used: bool | None = None
    at: datetime | None = None


class CommentIn(Strict):
    """A comment on an item."""

    text: str = Field(min_length=1, max_length=10_000)
    author: Short | None = None


class AssignIn(Strict):
    """Who owns an item."""

    owner: Short | None = None
    team: Short | None = None


class RulesIn(Strict):
    """The tenant's automation rules (a new version)."""

    rules: list[dict[str, Any]] = Field(max_length=100)


class PlaybookIn(Strict):
    """The tenant's playbook of next best actions (a new version)."""

    plays: list[dict[str, Any]] = Field(max_length=500)


def routers(ctx: ActionsContext) -> list[APIRouter]:
    """Actions' public routes."""
    router = APIRouter(route_class=StrictJsonRoute, tags=["actions"])
    engine = ctx.runtime.engine

    async def read(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with engine.begin() as conn:
            await set_tenant(conn, tenant)
            return await work(conn)

    async def write(tenant: uuid.UUID, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async def once() -> T:
            async with engine.begin() as conn:
                await set_tenant(conn, tenant)
                try:
                    return await work(conn)
                except items.NotFound as exc:
                    raise HTTPException(404, str(exc)) from exc
                except items.Duplicate as exc:
                    raise HTTPException(409, str(exc)) from exc
                except InvalidTransition as exc:
                    raise HTTPException(409, str(exc)) from exc
                except ValueError as exc:
                    raise HTTPException(422, str(exc)) from exc

        result = await retry_on_conflict(once, attempts=8)
        ctx.runtime.committed()
        return result

    @router.post("/v1/actions", status_code=201, summary="Create an action item")
    async def create(body: ActionIn, tenant: Writer) -> dict[str, Any]:
        due = bounded(body.due_at, "due_at")
        if due is None and body.sla_hours is not None:
            due = sla_due(datetime.now(UTC), body.sla_hours)
        item = items.NewItem(
            kind=body.kind, title=body.title, description=body.description, priority=body.priority, owner=body.owner,
            team=body.team, due_at=due, customer_id=body.customer_id, links=dict(body.links),
        )  # fmt: skip
        action_id = await write(tenant, lambda conn: items.create(conn, tenant, item))
        found = await read(tenant, lambda conn: queries.item(conn, ctx.keyring, tenant, action_id, ctx.clock.now()))
        assert found is not None
        return found

    @router.get("/v1/actions", summary="Action items, newest first")
    async def list_items(
        tenant: Reader,
        status: Status | None = None,
        kind: Literal["close_loop", "improvement"] | None = None,
        owner: Annotated[str | None, Query(max_length=200)] = None,
        team: Annotated[str | None, Query(max_length=200)] = None,
        customer_id: uuid.UUID | None = None,
        limit: int = limit_param(),
        cursor: Annotated[str | None, Query(max_length=500)] = None,
    ) -> dict[str, Any]:
        try:
            after = queries.after_of(cursor)
        except (KeyError, TypeError, ValueError) as exc:
            raise HTTPException(400, "The cursor is not one this API returned.") from exc
        return await read(
            tenant,
            lambda conn: queries.list_items(
                conn, tenant, status=status, kind=kind, owner=owner, team=team, customer_id=customer_id,
                limit=limit, after=after, now=ctx.clock.now(),
            ),
        )  # fmt: skip

    @router.get("/v1/actions/sla", summary="SLA report: on-time rate, breaches, response and close times, recovery")
    async def sla(
        tenant: Reader, by: Literal["all", "team", "kind"] = "all", since: datetime | None = None
    ) -> dict[str, Any]:
        return await read(tenant, lambda conn: queries.sla(conn, tenant, bounded(since, "since"), by))

    @router.get("/v1/actions/rules", summary="The tenant's automation rules")
    async def get_rules(tenant: Reader) -> dict[str, Any]:
        version, rules = await read(tenant, lambda conn: items.current_rules(conn, tenant))
        return {"version": version, "rules": rules_to_dict(rules)}

    @router.put("/v1/actions/rules", summary="Save new automation rules (a new version)")
    async def put_rules(body: RulesIn, tenant: Admin) -> dict[str, Any]:
        version, rules = await write(tenant, lambda conn: items.put_rules(conn, tenant, body.rules))
        return {"version": version, "rules": rules_to_dict(rules)}

    @router.get("/v1/actions/playbook", summary="The tenant's playbook of next best actions, and how each fared")
    async def get_playbook(tenant: Reader) -> dict[str, Any]:
        version, plays = await read(tenant, lambda conn: items.current_playbook(conn, tenant))
        results = await read(tenant, lambda conn: queries.playbook_results(conn, tenant))
        return {"version": version, "plays": playbook_to_dict(plays), "results": results}

    @router.put("/v1/actions/playbook", summary="Save a new playbook (a new version)")
    async def put_playbook(body: PlaybookIn, tenant: Admin) -> dict[str, Any]:
        version, plays = await write(tenant, lambda conn: items.put_playbook(conn, tenant, body.plays))
        return {"version": version, "plays": playbook_to_dict(plays)}

    @router.get("/v1/actions/{action_id}", summary="One action item with its full history and context card")
    async def get_item(action_id: uuid.UUID, tenant: Reader) -> dict[str, Any]:
        found = await read(tenant, lambda conn: queries.item(conn, ctx.keyring, tenant, action_id, ctx.clock.now()))
        if found is None:
            raise HTTPException(404, f"No action {action_id}.")
        return found

    @router.post("/v1/actions/{action_id}/transitions", summary="Move an item on (409 when it may not)")
    async def transition(action_id: uuid.UUID, body: TransitionIn, tenant: Writer) -> dict[str, Any]:
        at = bounded(body.at, "at")
        await write(
            tenant,
            lambda conn: items.transition(
                conn, tenant, action_id, body.to, note=body.note, root_cause=body.root_cause,
                suggestion_used=body.suggestion_used, at=at,
            ),
        )  # fmt: skip
        found = await read(tenant, lambda conn: queries.item(conn, ctx.keyring, tenant, action_id, ctx.clock.now()))
        assert found is not None
        return found

    @router.post("/v1/actions/{action_id}/comments", status_code=201, summary="Comment on an item")
    async def post_comment(action_id: uuid.UUID, body: CommentIn, tenant: Writer) -> dict[str, Any]:
        comment_id = await write(
            tenant, lambda conn: items.comment(conn, ctx.keyring, tenant, action_id, body.text, body.author)
        )
        return {"id": comment_id, "action_id": action_id}

    @router.post(
        "/v1/actions/{action_id}/assign",
        status_code=204,
        response_class=Response,
        summary="Give an item an owner or team",
    )
    async def post_assign(action_id: uuid.UUID, body: AssignIn, tenant: Writer) -> Response:
        await write(tenant, lambda conn: items.assign(conn, tenant, action_id, body.owner, body.team))
        return Response(status_code=204)

    @router.get("/v1/actions/{action_id}/impact", summary="Did it work? Before/after and difference-in-differences")
    async def get_impact(
        action_id: uuid.UUID,
        tenant: Reader,
        metric: Literal["detractor_share", "nps", "csat", "negative_share"] | None = None,
        window_days: Annotated[int, Query(ge=1, le=365)] | None = None,
    ) -> dict[str, Any]:
        window = timedelta(days=window_days or ctx.settings.impact_window_days)

        async def work(conn: AsyncConnection) -> dict[str, Any]:
            try:
                state, _ = await items.state_of(conn, tenant, action_id)
            except items.NotFound as exc:
                raise HTTPException(404, str(exc)) from exc
            result = await queries.impact(conn, tenant, state, metric, window)
            if result is None:
                raise HTTPException(
                    409, "Impact is measured once the item is resolved, and only for items linked to a topic or stage."
                )
            return {"action_id": action_id, "window_days": window.days, "pivot": state.resolved_at,
                    **dataclasses.asdict(result)}  # fmt: skip

        return await read(tenant, work)

    return [router]
