"""First-contact resolution: how often a support contact is followed by another one soon after.

A support contact is an interaction in a support stage of the stage map. A contact in [since, until) is repeated
when the same customer's next contact (in (time, id) order) comes no more than `window` after it; that next contact
may fall after `until`. `repeat_rate` = repeated / contacts and `fcr_rate` = 1 − repeat_rate, both None without
contacts. Every interaction a support stage maps counts, so a map that sends lifecycle events (a ticket's
`ticket_closed`) to support counts them as contacts too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cxm_journey.domain.paths import Step, order_steps
from cxm_journey.domain.stages import StageMap, is_support_contact


@dataclass(frozen=True, slots=True)
class ContactStats:
    """Support contacts in a period, how many were repeated, by how many customers, and the resulting rates."""

    contacts: int
    repeated: int
    customers: int
    fcr_rate: float | None
    repeat_rate: float | None


def support_contacts(steps: Sequence[Step], m: StageMap) -> list[Step]:
    """A customer's support contacts in (time, id) order."""
    return [s for s in order_steps(steps) if is_support_contact(m, s.stage, s.kind, s.name)]


def repeated_flags(contacts: Sequence[Step], window: timedelta) -> list[bool]:
    """For each contact in order, whether the next one follows within `window`."""
    return [i + 1 < len(contacts) and contacts[i + 1].at - c.at <= window for i, c in enumerate(contacts)]


def repeat_contacts(
    journeys: Mapping[str, Sequence[Step]],
    m: StageMap,
    *,
    window: timedelta,
    since: datetime,
    until: datetime,
) -> ContactStats:
    """Contacts, repeats and first-contact resolution over all journeys (see the module docstring)."""
    if window <= timedelta(0):
        raise ValueError("the repeat-contact window must be positive")
    contacts = repeated = customers = 0
    for steps in journeys.values():
        mine = support_contacts(steps, m)
        counted = False
        for c, rep in zip(mine, repeated_flags(mine, window), strict=True):
            if since <= c.at < until:
                contacts += 1
                repeated += rep
                counted = True
        customers += counted
    repeat_rate = repeated / contacts if contacts else None
    fcr = 1.0 - repeat_rate if repeat_rate is not None else None
    return ContactStats(contacts, repeated, customers, fcr, repeat_rate)
