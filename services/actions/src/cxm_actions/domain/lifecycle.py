"""The action item lifecycle: an event-sourced aggregate's statuses, allowed moves and the fold of its events.

An action item is either a `close_loop` item (follow up with one customer) or an `improvement` (fix a cause for
many). Its status moves only along `TRANSITIONS`:

    open          → acknowledged | in_progress | resolved | wont_fix
    acknowledged  → in_progress | resolved | wont_fix
    in_progress   → resolved | wont_fix
    resolved      → verified | in_progress   (reopen: the fix did not hold)
    verified      → (none: verification is final; a new problem is a new item)
    wont_fix      → open                      (reopen: the decision was reconsidered)

No status moves to itself, and nothing moves back to `acknowledged`. A `close_loop` item is resolved only with a
non-blank root cause: the one given with the move, or else the one it already carries (kept through a reopen, so
an item reopened and fixed again for the same cause needs no new one). An improvement needs none.

`evolve` folds one stored event into the state and never refuses: events are facts already decided by
`check_transition`, and replaying history must not fail when the rules change later. Unknown event types of the
`actions.action.` family leave the state as it was (apart from `updated_at`), so older code can read newer streams.
- first_response_at: the first time the item left `open` (a reopen from `wont_fix` back to `open` does not reset it);
- resolved_at: set when the item is resolved, cleared when it is reopened (kept on `verified`);
- breached_at: the first SLA breach, kept for the item's whole life.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

KINDS = ("close_loop", "improvement")
PRIORITIES = ("low", "medium", "high", "urgent")
STATUSES = ("open", "acknowledged", "in_progress", "resolved", "verified", "wont_fix")
CLOSED = ("resolved", "verified", "wont_fix")
"""Statuses in which an item is no longer being worked on (no SLA clock, no deduplication against it)."""

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "in_progress", "resolved", "wont_fix"),
    "acknowledged": ("in_progress", "resolved", "wont_fix"),
    "in_progress": ("resolved", "wont_fix"),
    "resolved": ("verified", "in_progress"),
    "verified": (),
    "wont_fix": ("open",),
}

CREATED = "actions.action.created.v1"
TRANSITIONED = "actions.action.transitioned.v1"
ASSIGNED = "actions.action.assigned.v1"
COMMENTED = "actions.action.commented.v1"
SLA_BREACHED = "actions.action.sla_breached.v1"
EVENT_TYPES = (CREATED, TRANSITIONED, ASSIGNED, COMMENTED, SLA_BREACHED)


class InvalidTransition(Exception):
    """A status move the lifecycle does not allow (answered 409 Conflict)."""

    def __init__(self, from_status: str, to: str, allowed: tuple[str, ...], message: str | None = None) -> None:
        """Name the move refused and the moves allowed from its status."""
        options = ", ".join(allowed) if allowed else "none"
        super().__init__(message or f"cannot move an action from {from_status!r} to {to!r} (allowed: {options})")
        self.from_status = from_status
        self.to = to
        self.allowed = allowed


class MissingRootCause(InvalidTransition):
    """A close-loop item resolved without saying what caused the customer's problem."""

    def __init__(self, from_status: str, allowed: tuple[str, ...]) -> None:
        """Say that resolving this item needs a non-blank root cause."""
        super().__init__(
            from_status,
            "resolved",
            allowed,
            f"a close_loop action needs a non-blank root_cause to move from {from_status!r} to 'resolved'",
        )


@dataclass(frozen=True)
class ActionState:
    """An action item as its events leave it (the fields after breached_at are optional extras)."""

    id: str
    kind: str
    status: str
    priority: str
    owner: str | None
    team: str | None
    due_at: datetime | None
    customer_id: str | None
    links: dict[str, str]
    root_cause: str | None
    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    breached_at: datetime | None
    title: str = ""
    description: str = ""
    comments: int = 0
    updated_at: datetime | None = None
    verified_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Still being worked on: not resolved, verified or won't-fix."""
        return is_open(self.status)


def is_open(status: str) -> bool:
    """Whether a status is still being worked on (not resolved, verified or won't-fix)."""
    return status not in CLOSED


def allowed_moves(status: str) -> tuple[str, ...]:
    """The statuses an item in `status` may move to."""
    return TRANSITIONS.get(status, ())


def _blank(text: str | None) -> bool:
    """Whether a text is missing or only whitespace."""
    return text is None or not text.strip()


def check_transition(state: ActionState, to: str, *, root_cause: str | None) -> None:
    """Refuse a move the lifecycle does not allow; a close-loop item needs a non-blank root cause to be resolved."""
    allowed = allowed_moves(state.status)
    if to not in STATUSES:
        raise InvalidTransition(
            state.status,
            to,
            allowed,
            f"unknown status {to!r} (statuses: {', '.join(STATUSES)}; allowed from {state.status!r}: "
            f"{', '.join(allowed) if allowed else 'none'})",
        )
    if to not in allowed:
        raise InvalidTransition(state.status, to, allowed)
    if to == "resolved" and state.kind == "close_loop" and _blank(root_cause) and _blank(state.root_cause):
        raise MissingRootCause(state.status, allowed)


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 text (or datetime) as an aware datetime (naive means UTC); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        at = value
    elif isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO-8601 time: {value!r}") from exc
    else:
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _opt_str(value: Any) -> str | None:
    """A non-empty string, or None."""
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


def _created(data: Mapping[str, Any], at: datetime, action_id: str | None) -> ActionState:
    """The state a creation event starts."""
    aid = action_id or _opt_str(data.get("id")) or _opt_str(data.get("action_id"))
    if aid is None:
        raise ValueError(f"{CREATED} needs the action id (data 'id' or the action_id argument)")
    kind = str(data.get("kind") or "")
    if kind not in KINDS:
        raise ValueError(f"{CREATED}: unknown kind {kind!r} (kinds: {', '.join(KINDS)})")
    priority = str(data.get("priority") or "medium")
    if priority not in PRIORITIES:
        raise ValueError(f"{CREATED}: unknown priority {priority!r} (priorities: {', '.join(PRIORITIES)})")
    links = data.get("links") or {}
    return ActionState(
        id=aid,
        kind=kind,
        status="open",
        priority=priority,
        owner=_opt_str(data.get("owner")),
        team=_opt_str(data.get("team")),
        due_at=parse_time(data.get("due_at")),
        customer_id=_opt_str(data.get("customer_id")),
        links={str(k): str(v) for k, v in dict(links).items()},
        root_cause=None,
        created_at=at,
        first_response_at=None,
        resolved_at=None,
        breached_at=None,
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        updated_at=at,
    )


def _transitioned(state: ActionState, data: Mapping[str, Any], at: datetime) -> ActionState:
    """The state after a status move."""
    to = str(data.get("to") or "")
    if to not in STATUSES:
        raise ValueError(f"{TRANSITIONED}: unknown status {to!r}")
    cause = _opt_str(data.get("root_cause"))
    first_response_at = state.first_response_at
    if first_response_at is None and state.status == "open" and to != "open":
        first_response_at = at
    if to == "resolved":
        resolved_at: datetime | None = at
    elif to == "verified":
        resolved_at = state.resolved_at or at
    else:
        resolved_at = None
    return replace(
        state,
        status=to,
        root_cause=cause.strip() if cause is not None else state.root_cause,
        first_response_at=first_response_at,
        resolved_at=resolved_at,
        verified_at=at if to == "verified" else None,
        updated_at=at,
    )


def evolve(
    state: ActionState | None,
    event_type: str,
    data: Mapping[str, Any],
    at: datetime,
    *,
    action_id: str | None = None,
) -> ActionState:
    """Fold one of an action item's events into its state (see the module docstring).

    The creation event names the item by data `id` (or `action_id`), unless `action_id` (the stream's) is given.
    """
    if event_type == CREATED:
        if state is not None:
            raise ValueError(f"action {state.id} already exists: {CREATED} must be its first event")
        return _created(data, at, action_id)
    if state is None:
        raise ValueError(f"{event_type} before {CREATED}: the action does not exist yet")
    if event_type == TRANSITIONED:
        return _transitioned(state, data, at)
    if event_type == ASSIGNED:
        return replace(
            state,
            owner=_opt_str(data.get("owner")) if "owner" in data else state.owner,
            team=_opt_str(data.get("team")) if "team" in data else state.team,
            updated_at=at,
        )
    if event_type == COMMENTED:
        return replace(state, comments=state.comments + 1, updated_at=at)
    if event_type == SLA_BREACHED:
        return replace(state, breached_at=state.breached_at or at, updated_at=at)
    return replace(state, updated_at=at)
