"""Builders for action items at fixed times, so that specifications read as the data they are about."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cxm_actions.domain.lifecycle import ActionState

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def item(id: str = "a1", **changes: Any) -> ActionState:
    """An open close-loop item created at T0 with no due time, with `changes` applied."""
    base = ActionState(
        id=id,
        kind="close_loop",
        status="open",
        priority="high",
        owner=None,
        team=None,
        due_at=None,
        customer_id="c1",
        links={},
        root_cause=None,
        created_at=T0,
        first_response_at=None,
        resolved_at=None,
        breached_at=None,
    )
    return replace(base, **changes)
