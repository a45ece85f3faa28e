"""Service levels: when an item is due, which items have just breached, and how teams keep their promises.

`breaches` lists the items that are still being worked on (not resolved, verified or won't-fix), have a due time at
or before `now` and have not been marked breached yet: each breach is reported once, and a resolved item never.

`sla_report` groups items by team (None as "unassigned"), kind, priority, owner (None as "unassigned") or all:
- resolved: items with a resolution time (resolved or verified);
- on_time_rate: resolved on time (at or before due, or with no due time) out of the items whose outcome is known:
  the resolved ones plus those still open and already breached (they can no longer be on time; leaving them out
  would flatter a team that lets items linger). Won't-fix items are not counted. None when none is known;
- breaches: items that breached their SLA (whatever became of them);
- median_first_response_s: median seconds from creation to the first move out of `open`;
- median_close_s: median seconds from creation to resolution;
- recovery_rate: the share of items whose customer recovered, among those with a known answer in `recoveries`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from cxm_actions.domain.lifecycle import ActionState, is_open

GROUPINGS = ("team", "kind", "priority", "owner", "all")
UNASSIGNED = "unassigned"


def due_at(created_at: datetime, sla_hours: float | None) -> datetime | None:
    """When an item created at `created_at` is due under an SLA of `sla_hours` (None: no SLA, never due)."""
    if sla_hours is None:
        return None
    if not math.isfinite(sla_hours) or sla_hours < 0:
        raise ValueError(f"sla_hours must be a non-negative number, got {sla_hours!r}")
    return created_at + timedelta(hours=sla_hours)


def is_breached(item: ActionState, now: datetime) -> bool:
    """Whether an item still being worked on has reached its due time without having been marked breached."""
    return is_open(item.status) and item.due_at is not None and item.due_at <= now and item.breached_at is None


def breaches(items: Iterable[ActionState], now: datetime) -> list[ActionState]:
    """The items that breach their SLA as of `now` and were not marked yet, earliest due first."""
    found = [item for item in items if is_breached(item, now)]
    return sorted(found, key=lambda item: (item.due_at or now, item.id))


@dataclass(frozen=True)
class SlaReport:
    """How one group of items kept its service levels (see the module docstring)."""

    group: str
    items: int
    resolved: int
    on_time_rate: float | None
    breaches: int
    median_first_response_s: float | None
    median_close_s: float | None
    recovery_rate: float | None


def _group_key(by: str) -> Callable[[ActionState], str]:
    """The function naming an item's group under a grouping."""
    if by == "team":
        return lambda item: item.team or UNASSIGNED
    if by == "owner":
        return lambda item: item.owner or UNASSIGNED
    if by == "kind":
        return lambda item: item.kind
    if by == "priority":
        return lambda item: item.priority
    if by == "all":
        return lambda item: "all"
    raise ValueError(f"unknown grouping {by!r} (groupings: {', '.join(GROUPINGS)})")


def _median(values: list[float]) -> float | None:
    """The median, or None for no values."""
    return float(statistics.median(values)) if values else None


def on_time(item: ActionState) -> bool:
    """Whether a resolved item was resolved at or before its due time (always, with no due time)."""
    return item.resolved_at is not None and (item.due_at is None or item.resolved_at <= item.due_at)


def _report(group: str, items: list[ActionState], recoveries: Mapping[str, bool | None]) -> SlaReport:
    """The report of one group."""
    resolved = [item for item in items if item.resolved_at is not None]
    overdue = [i for i in items if i.resolved_at is None and is_open(i.status) and i.breached_at is not None]
    known = len(resolved) + len(overdue)
    # Back-dated history (an imported item resolved "before" it was recorded) says nothing about response times.
    first = [
        (i.first_response_at - i.created_at).total_seconds()
        for i in items
        if i.first_response_at is not None and i.first_response_at >= i.created_at
    ]
    close = [
        (i.resolved_at - i.created_at).total_seconds()
        for i in resolved
        if i.resolved_at is not None and i.resolved_at >= i.created_at
    ]
    recovered = [r for r in (recoveries.get(item.id) for item in items) if r is not None]
    return SlaReport(
        group=group,
        items=len(items),
        resolved=len(resolved),
        on_time_rate=sum(on_time(i) for i in resolved) / known if known else None,
        breaches=sum(item.breached_at is not None for item in items),
        median_first_response_s=_median(first),
        median_close_s=_median(close),
        recovery_rate=sum(recovered) / len(recovered) if recovered else None,
    )


def sla_report(items: Iterable[ActionState], recoveries: Mapping[str, bool | None], *, by: str) -> list[SlaReport]:
    """Service levels per group of items, groups in name order (see the module docstring)."""
    key = _group_key(by)
    groups: dict[str, list[ActionState]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return [_report(group, groups[group], recoveries) for group in sorted(groups)]
