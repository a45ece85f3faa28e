"""Action items as event-sourced aggregates: create, move through their lifecycle, assign, comment.

Each command loads the item's events, folds them into its state with `domain.lifecycle.evolve`, decides, and
appends with optimistic concurrency (expected version = the events it read), in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from cxm_actions import contracts as c
from cxm_actions.domain.lifecycle import ActionState, check_transition, evolve
from cxm_actions.domain.playbook import DEFAULT_PLAYBOOK, Play, parse_playbook, playbook_to_dict
from cxm_actions.domain.rules import DEFAULT_RULES, Rule, parse_rules, rules_to_dict
from cxm_actions.projections import ACTIONS_READ_MODELS
from cxm_common.crypto import KeyRing
from cxm_common.db import driver
from cxm_common.envelope import Envelope
from cxm_common.eventstore import PendingAppend, append_many, load, stream_version
from cxm_common.ids import uuid7
from cxm_common.observability import current_traceparent
from cxm_common.projections import project


class NotFound(LookupError):
    """No such item for this tenant."""


class Duplicate(Exception):
    """An open item with the same de-duplication key exists (answered 409 with its id)."""

    def __init__(self, existing: uuid.UUID) -> None:
        super().__init__(f"an open item already covers this (action {existing})")
        self.existing = existing


def stream_of(action_id: uuid.UUID) -> str:
    """The stream of one action item."""
    return f"action-{action_id}"


def event(
    type_: str, tenant: uuid.UUID, subject: str, data: dict[str, Any], *, at: datetime | None = None,
    cause: Envelope | None = None,
) -> Envelope:  # fmt: skip
    """One of actions' events."""
    extra: dict[str, Any] = {"time": at} if at is not None else {}
    return Envelope(
        type=type_, source=c.SOURCE, subject=subject, tenant_id=tenant, data=data, traceparent=current_traceparent(),
        correlation_id=cause.correlation_id if cause else None, causation_id=cause.id if cause else None, **extra,
    )  # fmt: skip


async def append(conn: AsyncConnection, stream: str, events: list[Envelope], expected: int) -> list[Envelope]:
    """Append and project."""
    stored = await append_many(conn, [PendingAppend(stream, events, expected)])
    await project(conn, [ACTIONS_READ_MODELS], stored)
    return stored


@dataclass(frozen=True, slots=True)
class NewItem:
    """What creating an item takes (from a person or from an automation rule)."""

    kind: str
    title: str
    description: str = ""
    priority: str = "medium"
    owner: str | None = None
    team: str | None = None
    due_at: datetime | None = None
    customer_id: uuid.UUID | None = None
    links: Mapping[str, str] | None = None
    dedupe_key: str | None = None
    rule_id: str | None = None
    suggestion: Mapping[str, str] | None = None
    at: datetime | None = None


async def create(
    conn: AsyncConnection, tenant: uuid.UUID, item: NewItem, *, cause: Envelope | None = None
) -> uuid.UUID:
    """Create an item; with a de-duplication key, only if no open item holds it (Duplicate otherwise)."""
    pg = await driver(conn)
    if item.dedupe_key:
        existing = await pg.fetchval(
            "SELECT id FROM actions WHERE tenant_id = $1 AND dedupe_key = $2 "
            "AND status IN ('open', 'acknowledged', 'in_progress')",
            tenant, item.dedupe_key,
        )  # fmt: skip
        if existing is not None:
            raise Duplicate(existing)
    action_id = uuid7()
    data = {
        "action_id": str(action_id),
        "kind": item.kind,
        "title": item.title[:300],
        "description": item.description[:5000],
        "priority": item.priority,
        "owner": item.owner,
        "team": item.team,
        "due_at": item.due_at.isoformat() if item.due_at else None,
        "customer_id": str(item.customer_id) if item.customer_id else None,
        "links": dict(item.links or {}),
        "dedupe_key": item.dedupe_key,
        "rule_id": item.rule_id,
        "suggestion": dict(item.suggestion) if item.suggestion else None,
    }
    stream = stream_of(action_id)
    try:
        async with conn.begin_nested():
            await append(conn, stream, [event(c.ACTION_CREATED, tenant, stream, data, at=item.at, cause=cause)], 0)
    except Exception as exc:
        # The partial unique index is the last word on "one open item per key" under concurrent triggers.
        if _unique_violation(exc) and item.dedupe_key:
            existing = await pg.fetchval(
                "SELECT id FROM actions WHERE tenant_id = $1 AND dedupe_key = $2 "
                "AND status IN ('open', 'acknowledged', 'in_progress')",
                tenant, item.dedupe_key,
            )  # fmt: skip
            raise Duplicate(existing) from exc
        raise
    return action_id


def _unique_violation(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, asyncpg.UniqueViolationError) and "actions_open_dedupe" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


async def state_of(
    conn: AsyncConnection, tenant: uuid.UUID, action_id: uuid.UUID
) -> tuple[ActionState, list[Envelope]]:
    """An item's state folded from its events, and the events (NotFound if none, or if another tenant's)."""
    events = await load(conn, stream_of(action_id))
    # Row-level security hides other tenants' events from the runtime role; this holds for any role.
    if not events or events[0].tenant_id != tenant:
        raise NotFound(f"no action {action_id}")
    state: ActionState | None = None
    for e in events:
        state = evolve(state, e.type, e.data, e.time)
    assert state is not None
    return state, events


async def transition(
    conn: AsyncConnection,
    tenant: uuid.UUID,
    action_id: uuid.UUID,
    to: str,
    *,
    note: str | None,
    root_cause: str | None,
    suggestion_used: bool | None,
    at: datetime | None,
) -> ActionState:
    """Move an item to another status (InvalidTransition / MissingRootCause when it may not)."""
    state, events = await state_of(conn, tenant, action_id)
    check_transition(state, to, root_cause=root_cause)
    data = {"action_id": str(action_id), "from": state.status, "to": to, "note": note,
            "root_cause": root_cause.strip() if root_cause else None, "suggestion_used": suggestion_used}  # fmt: skip
    e = event(c.ACTION_TRANSITIONED, tenant, stream_of(action_id), data, at=at)
    await append(conn, stream_of(action_id), [e], len(events))
    return evolve(state, e.type, e.data, e.time)


async def assign(
    conn: AsyncConnection, tenant: uuid.UUID, action_id: uuid.UUID, owner: str | None, team: str | None
) -> None:
    """Give an item an owner and/or team."""
    _, events = await state_of(conn, tenant, action_id)
    data = {"action_id": str(action_id), "owner": owner, "team": team}
    await append(
        conn, stream_of(action_id), [event(c.ACTION_ASSIGNED, tenant, stream_of(action_id), data)], len(events)
    )


async def comment(
    conn: AsyncConnection, keyring: KeyRing, tenant: uuid.UUID, action_id: uuid.UUID, text: str, author: str | None
) -> uuid.UUID:
    """Add a comment; its text is sealed with the customer's key on close-loop items (it may name them)."""
    state, events = await state_of(conn, tenant, action_id)
    subject = uuid.UUID(state.customer_id) if state.customer_id else action_id
    [section] = await keyring.seal_many(conn, tenant, [(subject, {"text": text})])
    comment_id = uuid7()
    data = {"action_id": str(action_id), "comment_id": str(comment_id), "author": author, "_pii": section}
    await append(
        conn, stream_of(action_id), [event(c.ACTION_COMMENTED, tenant, stream_of(action_id), data)], len(events)
    )
    return comment_id


async def current_rules(conn: AsyncConnection, tenant: uuid.UUID) -> tuple[int, tuple[Rule, ...]]:
    """The tenant's automation rules (the defaults until it saves its own) and their version."""
    row = await (await driver(conn)).fetchrow(
        "SELECT version, definition::text AS d FROM rules WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1", tenant
    )
    if row is None:
        return 0, DEFAULT_RULES
    return row["version"], parse_rules(orjson.loads(row["d"])["rules"])


async def put_rules(conn: AsyncConnection, tenant: uuid.UUID, body: Any) -> tuple[int, tuple[Rule, ...]]:
    """Save a new version of the rules (ValueError if invalid)."""
    rules = parse_rules(body)
    stream = f"rules-{tenant}"
    version = await stream_version(conn, stream)
    data = {"version": version + 1, "rules": rules_to_dict(rules)}
    await append(conn, stream, [event(c.RULES_UPDATED, tenant, stream, data)], version)
    return version + 1, rules


async def current_playbook(conn: AsyncConnection, tenant: uuid.UUID) -> tuple[int, tuple[Play, ...]]:
    """The tenant's playbook (the default until it saves its own) and its version."""
    row = await (await driver(conn)).fetchrow(
        "SELECT version, definition::text AS d FROM playbooks WHERE tenant_id = $1 ORDER BY version DESC LIMIT 1",
        tenant,
    )
    if row is None:
        return 0, DEFAULT_PLAYBOOK
    return row["version"], parse_playbook(orjson.loads(row["d"])["plays"])


async def put_playbook(conn: AsyncConnection, tenant: uuid.UUID, body: Any) -> tuple[int, tuple[Play, ...]]:
    """Save a new version of the playbook (ValueError if invalid)."""
    plays = parse_playbook(body)
    stream = f"playbook-{tenant}"
    version = await stream_version(conn, stream)
    data = {"version": version + 1, "plays": playbook_to_dict(plays)}
    await append(conn, stream, [event(c.PLAYBOOK_UPDATED, tenant, stream, data)], version)
    return version + 1, plays
