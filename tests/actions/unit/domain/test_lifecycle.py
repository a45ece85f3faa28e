"""The action lifecycle: every move allowed or refused, root causes for close-loop items, and the event fold."""

from __future__ import annotations

import pytest

from cxm_actions.domain.lifecycle import (
    ASSIGNED,
    CLOSED,
    COMMENTED,
    CREATED,
    SLA_BREACHED,
    STATUSES,
    TRANSITIONED,
    ActionState,
    InvalidTransition,
    MissingRootCause,
    check_transition,
    evolve,
    is_open,
)

from .items import DAY, HOUR, T0, item

ALLOWED = {
    ("open", "acknowledged"),
    ("open", "in_progress"),
    ("open", "resolved"),
    ("open", "wont_fix"),
    ("acknowledged", "in_progress"),
    ("acknowledged", "resolved"),
    ("acknowledged", "wont_fix"),
    ("in_progress", "resolved"),
    ("in_progress", "wont_fix"),
    ("resolved", "verified"),
    ("resolved", "in_progress"),
    ("wont_fix", "open"),
}
MOVES = [(a, b) for a in STATUSES for b in STATUSES]


@pytest.mark.parametrize(("status", "to"), sorted(ALLOWED))
def test_allowed_moves_pass(status: str, to: str) -> None:
    """Each move in the lifecycle table is accepted (with a root cause where resolving needs one)."""
    check_transition(item(status=status), to, root_cause="billing system double-charged")


@pytest.mark.parametrize(("status", "to"), [m for m in MOVES if m not in ALLOWED])
def test_other_moves_are_refused_naming_from_to_and_allowed(status: str, to: str) -> None:
    """Any other move, including staying put, is refused with a message that says what is allowed instead."""
    with pytest.raises(InvalidTransition) as err:
        check_transition(item(status=status), to, root_cause="cause")
    assert not isinstance(err.value, MissingRootCause)
    assert (err.value.from_status, err.value.to) == (status, to)
    message = str(err.value)
    assert repr(status) in message and repr(to) in message
    allowed = sorted(b for a, b in ALLOWED if a == status)
    assert sorted(err.value.allowed) == allowed
    for option in allowed:
        assert option in message
    if not allowed:
        assert "none" in message


def test_verified_is_final() -> None:
    """A verified item moves nowhere."""
    for to in STATUSES:
        with pytest.raises(InvalidTransition):
            check_transition(item(status="verified"), to, root_cause="cause")


def test_unknown_status_is_refused() -> None:
    """A status outside the lifecycle is refused and the message lists the real ones."""
    with pytest.raises(InvalidTransition, match="unknown status 'done'"):
        check_transition(item(), "done", root_cause=None)


@pytest.mark.parametrize("cause", [None, "", "   \n"])
@pytest.mark.parametrize("status", ["open", "acknowledged", "in_progress"])
def test_close_loop_item_cannot_be_resolved_without_root_cause(status: str, cause: str | None) -> None:
    """A close-loop item needs a non-blank root cause to be resolved."""
    with pytest.raises(MissingRootCause, match="root_cause"):
        check_transition(item(status=status), "resolved", root_cause=cause)


def test_missing_root_cause_is_an_invalid_transition() -> None:
    """MissingRootCause is answered like any refused move."""
    assert issubclass(MissingRootCause, InvalidTransition)


def test_improvement_can_be_resolved_without_root_cause() -> None:
    """An improvement item is resolved without a root cause."""
    check_transition(item(kind="improvement", status="in_progress"), "resolved", root_cause=None)


def test_close_loop_item_can_be_closed_as_wont_fix_without_root_cause() -> None:
    """Only resolving needs a root cause."""
    check_transition(item(status="in_progress"), "wont_fix", root_cause=None)


def test_reopened_close_loop_item_keeps_its_root_cause_for_the_next_resolution() -> None:
    """An item resolved once, reopened and fixed again may reuse the root cause it carries."""
    check_transition(item(status="in_progress", root_cause="courier lost parcel"), "resolved", root_cause=None)


def test_reopen_paths() -> None:
    """Resolved items reopen into progress, won't-fix items back to open."""
    check_transition(item(status="resolved", root_cause="x"), "in_progress", root_cause=None)
    check_transition(item(status="wont_fix"), "open", root_cause=None)
    with pytest.raises(InvalidTransition):
        check_transition(item(status="resolved", root_cause="x"), "open", root_cause=None)


def test_closed_statuses_are_not_open() -> None:
    """Resolved, verified and won't-fix are closed; the rest are open."""
    assert set(CLOSED) == {"resolved", "verified", "wont_fix"}
    assert [s for s in STATUSES if is_open(s)] == ["open", "acknowledged", "in_progress"]


CREATED_DATA = {
    "id": "a1",
    "kind": "close_loop",
    "title": "Follow up with detractor (NPS 3) about billing",
    "description": "Customer c1 answered NPS 3.",
    "priority": "high",
    "owner": None,
    "team": "care",
    "due_at": "2024-03-03T09:00:00+00:00",
    "customer_id": "c1",
    "links": {"feedback": "f1"},
}


def created() -> ActionState:
    """The state right after the creation event at T0."""
    return evolve(None, CREATED, CREATED_DATA, T0)


def moved(state: ActionState, to: str, at_hours: float, **data: str) -> ActionState:
    """The state after a transition event `at_hours` after T0."""
    return evolve(state, TRANSITIONED, {"from": state.status, "to": to, **data}, T0 + at_hours * HOUR)


def test_creation_starts_an_open_item() -> None:
    """The creation event gives an open item with the data's fields and no response yet."""
    s = created()
    assert (s.id, s.kind, s.status, s.priority, s.team, s.owner) == ("a1", "close_loop", "open", "high", "care", None)
    assert s.due_at == T0 + 2 * DAY
    assert s.customer_id == "c1" and s.links == {"feedback": "f1"}
    assert s.created_at == T0 and s.title.startswith("Follow up")
    assert (s.first_response_at, s.resolved_at, s.breached_at, s.root_cause) == (None, None, None, None)


def test_creation_takes_the_stream_id_when_given() -> None:
    """The id may come from the stream rather than the data."""
    data = {k: v for k, v in CREATED_DATA.items() if k != "id"}
    assert evolve(None, CREATED, data, T0, action_id="s-9").id == "s-9"
    with pytest.raises(ValueError, match="action id"):
        evolve(None, CREATED, data, T0)


def test_creation_accepts_no_due_time() -> None:
    """An item without an SLA has no due time."""
    assert evolve(None, CREATED, {**CREATED_DATA, "due_at": None}, T0).due_at is None


def test_first_response_is_the_first_move_out_of_open() -> None:
    """first_response_at is set by the first move out of open and never moves afterwards."""
    s = moved(created(), "acknowledged", 2)
    assert s.first_response_at == T0 + 2 * HOUR
    s = moved(s, "in_progress", 5)
    assert s.first_response_at == T0 + 2 * HOUR


def test_first_response_survives_a_reopen_to_open() -> None:
    """Closing as won't-fix and reopening does not reset the first response."""
    s = moved(moved(moved(created(), "wont_fix", 1), "open", 10), "in_progress", 20)
    assert s.status == "in_progress"
    assert s.first_response_at == T0 + HOUR


def test_resolution_sets_resolved_at_and_root_cause() -> None:
    """Resolving records when and why."""
    s = moved(moved(created(), "in_progress", 1), "resolved", 30, root_cause="  duplicate charge  ")
    assert s.status == "resolved"
    assert s.resolved_at == T0 + 30 * HOUR
    assert s.root_cause == "duplicate charge"


def test_reopen_clears_resolved_at_and_a_new_resolution_sets_it_again() -> None:
    """A reopened item is unresolved until it is resolved again; its root cause is kept meanwhile."""
    s = moved(created(), "resolved", 3, root_cause="duplicate charge")
    s = moved(s, "in_progress", 40)
    assert s.resolved_at is None and s.root_cause == "duplicate charge"
    s = moved(s, "resolved", 50, root_cause="refund not issued")
    assert s.resolved_at == T0 + 50 * HOUR and s.root_cause == "refund not issued"


def test_verification_keeps_the_resolution_time() -> None:
    """Verifying an item does not change when it was resolved."""
    s = moved(moved(created(), "resolved", 3, root_cause="x"), "verified", 100)
    assert s.status == "verified"
    assert s.resolved_at == T0 + 3 * HOUR
    assert s.verified_at == T0 + 100 * HOUR


def test_wont_fix_is_not_a_resolution() -> None:
    """Closing as won't-fix leaves resolved_at empty."""
    assert moved(created(), "wont_fix", 3).resolved_at is None


def test_assignment_changes_owner_and_team() -> None:
    """An assignment names the owner and the team; a missing key leaves that field alone."""
    s = evolve(created(), ASSIGNED, {"owner": "ana", "team": "billing"}, T0 + HOUR)
    assert (s.owner, s.team) == ("ana", "billing")
    s = evolve(s, ASSIGNED, {"owner": "bo"}, T0 + 2 * HOUR)
    assert (s.owner, s.team) == ("bo", "billing")
    s = evolve(s, ASSIGNED, {"owner": None, "team": None}, T0 + 3 * HOUR)
    assert (s.owner, s.team) == (None, None)


def test_assignment_is_not_a_response() -> None:
    """Only a status move out of open counts as the first response."""
    assert evolve(created(), ASSIGNED, {"owner": "ana"}, T0 + HOUR).first_response_at is None


def test_comments_are_counted() -> None:
    """Each comment event adds one."""
    s = evolve(evolve(created(), COMMENTED, {"text": "called"}, T0 + HOUR), COMMENTED, {}, T0 + 2 * HOUR)
    assert s.comments == 2 and s.status == "open"


def test_sla_breach_is_recorded_once() -> None:
    """The first breach event sets breached_at; a repeat keeps the first time."""
    s = evolve(created(), SLA_BREACHED, {}, T0 + 2 * DAY)
    s = evolve(s, SLA_BREACHED, {}, T0 + 3 * DAY)
    assert s.breached_at == T0 + 2 * DAY


def test_events_before_creation_or_a_second_creation_are_errors() -> None:
    """The stream must start with exactly one creation event."""
    with pytest.raises(ValueError, match="does not exist"):
        evolve(None, TRANSITIONED, {"to": "resolved"}, T0)
    with pytest.raises(ValueError, match="already exists"):
        evolve(created(), CREATED, CREATED_DATA, T0)


def test_unknown_event_types_leave_the_item_as_it_was() -> None:
    """A newer event type is tolerated on replay."""
    s = evolve(created(), "actions.action.labelled.v1", {"label": "vip"}, T0 + HOUR)
    assert s.status == "open" and s.updated_at == T0 + HOUR


def test_replay_does_not_re_check_moves() -> None:
    """Stored events are facts: the fold applies them even where check_transition would refuse today."""
    s = moved(moved(created(), "resolved", 1, root_cause="x"), "verified", 2)
    assert moved(s, "in_progress", 3).status == "in_progress"
