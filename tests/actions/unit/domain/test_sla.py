"""Service levels: due times, breaches reported exactly once and only while open, and per-group reports."""

from __future__ import annotations

import pytest

from cxm_actions.domain.lifecycle import ActionState
from cxm_actions.domain.sla import SlaReport, breaches, due_at, sla_report

from .items import DAY, HOUR, T0, item

DUE = T0 + 48 * HOUR
SECOND = HOUR / 3600


def test_due_time_is_creation_plus_sla() -> None:
    """An SLA of 48 hours makes an item due two days after creation; no SLA, no due time."""
    assert due_at(T0, 48) == T0 + 2 * DAY
    assert due_at(T0, 0.5) == T0 + 30 * 60 * SECOND
    assert due_at(T0, None) is None


@pytest.mark.parametrize("hours", [-1.0, float("nan"), float("inf")])
def test_due_time_refuses_a_meaningless_sla(hours: float) -> None:
    """A negative or non-finite SLA is an error."""
    with pytest.raises(ValueError, match="sla_hours"):
        due_at(T0, hours)


def test_breach_happens_exactly_at_due_time_and_not_before() -> None:
    """An item is breached when now reaches its due time (≤), not a second earlier."""
    a = item(due_at=DUE)
    assert breaches([a], DUE - SECOND) == []
    assert breaches([a], DUE) == [a]
    assert breaches([a], DUE + DAY) == [a]


def test_breach_is_reported_once() -> None:
    """An item already marked breached is not reported again."""
    assert breaches([item(due_at=DUE, breached_at=DUE)], DUE + DAY) == []


@pytest.mark.parametrize("status", ["resolved", "verified", "wont_fix"])
def test_closed_items_never_breach(status: str) -> None:
    """Resolved, verified and won't-fix items are off the clock."""
    assert breaches([item(status=status, due_at=DUE, resolved_at=DUE - HOUR)], DUE + DAY) == []


@pytest.mark.parametrize("status", ["open", "acknowledged", "in_progress"])
def test_items_being_worked_on_breach(status: str) -> None:
    """Acknowledged and in-progress items are still on the clock."""
    assert len(breaches([item(status=status, due_at=DUE)], DUE)) == 1


def test_items_without_due_time_never_breach() -> None:
    """No SLA, no breach."""
    assert breaches([item(due_at=None)], T0 + 365 * DAY) == []


def test_breaches_come_earliest_due_first() -> None:
    """Several breaches are listed by due time, then id."""
    items = [item("c", due_at=DUE), item("b", due_at=DUE - HOUR), item("a", due_at=DUE)]
    assert [i.id for i in breaches(items, DUE)] == ["b", "a", "c"]


def report_items() -> list[ActionState]:
    """Five items of two teams with known response and close times."""
    return [
        # care: first response after 1 h, resolved after 10 h (on time)
        item("a", team="care", due_at=DUE, first_response_at=T0 + HOUR, resolved_at=T0 + 10 * HOUR, status="resolved"),
        # care: first response after 3 h, resolved after 60 h (late, breached at 48 h)
        item("b", team="care", due_at=DUE, first_response_at=T0 + 3 * HOUR, resolved_at=T0 + 60 * HOUR,
             breached_at=DUE, status="verified"),
        # care: still open and breached: can no longer be on time
        item("c", team="care", due_at=DUE, first_response_at=T0 + 2 * HOUR, breached_at=DUE, status="in_progress"),
        # care: open, not yet due: outcome unknown
        item("d", team="care", due_at=T0 + 30 * DAY),
        # no team: improvement resolved with no due time (always on time), after 4 h, first response at 4 h
        item("e", kind="improvement", first_response_at=T0 + 4 * HOUR, resolved_at=T0 + 4 * HOUR, status="resolved"),
    ]  # fmt: skip


def test_report_by_team_gives_medians_on_time_rate_and_breaches() -> None:
    """Medians are over items that responded or closed; on-time is out of resolved plus overdue open items."""
    recoveries = {"a": True, "b": False, "c": None, "e": True}
    care, unassigned = sla_report(report_items(), recoveries, by="team")
    assert care == SlaReport(
        group="care",
        items=4,
        resolved=2,
        on_time_rate=1 / 3,
        breaches=2,
        median_first_response_s=2 * 3600.0,
        median_close_s=35 * 3600.0,
        recovery_rate=0.5,
    )
    assert unassigned == SlaReport("unassigned", 1, 1, 1.0, 0, 4 * 3600.0, 4 * 3600.0, 1.0)


def test_report_by_kind_and_overall() -> None:
    """Groups follow the grouping; "all" is one group."""
    by_kind = sla_report(report_items(), {}, by="kind")
    assert [(r.group, r.items) for r in by_kind] == [("close_loop", 4), ("improvement", 1)]
    [total] = sla_report(report_items(), {}, by="all")
    assert (total.group, total.items, total.resolved, total.breaches) == ("all", 5, 3, 2)
    assert total.on_time_rate == 2 / 4
    assert total.median_close_s == 10 * 3600.0
    assert total.recovery_rate is None


def test_resolution_exactly_at_due_time_is_on_time() -> None:
    """On time means at or before the due time."""
    [r] = sla_report([item(due_at=DUE, resolved_at=DUE, status="resolved")], {}, by="all")
    assert r.on_time_rate == 1.0


def test_wont_fix_items_do_not_count_toward_on_time() -> None:
    """An item closed as won't-fix is neither on time nor late."""
    [r] = sla_report([item(due_at=DUE, breached_at=DUE, status="wont_fix")], {}, by="all")
    assert (r.on_time_rate, r.breaches, r.median_close_s) == (None, 1, None)


def test_empty_report_and_unknown_grouping() -> None:
    """No items give no groups; an unknown grouping is an error."""
    assert sla_report([], {}, by="team") == []
    with pytest.raises(ValueError, match="unknown grouping 'region'"):
        sla_report([], {}, by="region")


def test_back_dated_history_does_not_count_as_response_time() -> None:
    from datetime import UTC, datetime, timedelta

    from cxm_actions.domain.lifecycle import ActionState
    from cxm_actions.domain.sla import sla_report

    now = datetime(2026, 5, 1, tzinfo=UTC)
    imported = ActionState(
        id="a", kind="improvement", status="resolved", priority="medium", owner=None, team=None, due_at=None,
        customer_id=None, links={}, root_cause=None, created_at=now, first_response_at=now - timedelta(days=30),
        resolved_at=now - timedelta(days=30), breached_at=None,
    )  # fmt: skip
    [report] = sla_report([imported], {}, by="all")
    assert report.median_first_response_s is None and report.median_close_s is None and report.resolved == 1
