"""Repeat contacts and first-contact resolution are exact on planted support contacts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cxm_journey.domain.contacts import repeat_contacts
from cxm_journey.domain.paths import Step
from cxm_journey.domain.stages import DEFAULT_STAGE_MAP

from .journeys import DAY, HOUR, T0, Journey, shuffled

SINCE = T0
UNTIL = T0 + 60 * DAY
WINDOW = 7 * DAY


def population() -> dict[str, list[Step]]:
    """Groups with planted contacts; every customer also logs in and gives feedback at the support touchpoint."""
    journeys: dict[str, list[Step]] = {}

    def add(prefix: str, count: int, contact_days: list[float]) -> None:
        for i in range(count):
            j = Journey(f"{prefix}{i:03d}").did("login", SINCE + HOUR)
            for d in contact_days:
                j.did("ticket_opened", SINCE + d * DAY).said(SINCE + d * DAY + HOUR, touchpoint="support", csat=2)
                j.did("login", SINCE + d * DAY + 2 * HOUR)
            journeys[j.customer] = j.steps

    add("once", 300, [5])  # 300 contacts, none repeated
    add("twice", 200, [5, 7])  # 400 contacts, the first of each pair repeated
    add("thrice", 100, [5, 8, 28])  # 300 contacts, only the first repeated
    add("apart", 100, [5, 15])  # 200 contacts, 10 days apart: none repeated
    add("before", 50, [-1, 1])  # only the second is in the period, and nothing follows it
    add("spill", 50, [59, 61])  # the first in the period, repeated by one after it
    add("calm", 150, [])
    return journeys


def test_repeat_rate_on_planted_contacts_is_exact() -> None:
    stats = repeat_contacts(population(), DEFAULT_STAGE_MAP, window=WINDOW, since=SINCE, until=UNTIL)

    assert stats.contacts == 300 + 400 + 300 + 200 + 50 + 50
    assert stats.repeated == 200 + 100 + 50
    assert stats.customers == 800
    assert stats.repeat_rate == 350 / 1300
    assert stats.fcr_rate == 1 - 350 / 1300


def test_a_narrower_window_finds_fewer_repeats() -> None:
    stats = repeat_contacts(population(), DEFAULT_STAGE_MAP, window=2 * DAY, since=SINCE, until=UNTIL)

    assert stats.repeated == 200 + 50


def test_feedback_at_the_support_touchpoint_is_not_a_contact() -> None:
    j = Journey("c").said(T0 + DAY, touchpoint="support", nps=2).said(T0 + 2 * DAY, touchpoint="support", nps=1)

    stats = repeat_contacts({"c": j.steps}, DEFAULT_STAGE_MAP, window=WINDOW, since=SINCE, until=UNTIL)

    assert stats.contacts == 0
    assert stats.fcr_rate is None and stats.repeat_rate is None


def test_two_contacts_at_the_same_instant_make_the_first_a_repeat() -> None:
    j = Journey("c").did("ticket_opened", T0 + DAY).did("chat_started", T0 + DAY)

    stats = repeat_contacts({"c": j.steps}, DEFAULT_STAGE_MAP, window=WINDOW, since=SINCE, until=UNTIL)

    assert (stats.contacts, stats.repeated, stats.customers) == (2, 1, 1)


def test_shuffled_steps_give_identical_contact_stats() -> None:
    journeys = population()

    assert repeat_contacts(
        shuffled(journeys), DEFAULT_STAGE_MAP, window=WINDOW, since=SINCE, until=UNTIL
    ) == repeat_contacts(journeys, DEFAULT_STAGE_MAP, window=WINDOW, since=SINCE, until=UNTIL)


def test_the_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        repeat_contacts({}, DEFAULT_STAGE_MAP, window=timedelta(0), since=SINCE, until=UNTIL)
