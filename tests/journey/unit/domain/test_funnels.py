"""Funnels count customers step by step, strictly in order, within the window from entry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cxm_journey.domain.funnels import FunnelStep, funnel
from cxm_journey.domain.paths import Step

from .journeys import DAY, HOUR, T0, Journey, shuffled

SINCE = T0
UNTIL = T0 + 30 * DAY
WITHIN = 7 * DAY
STEPS = [
    FunnelStep("interaction", "pricing_viewed"),
    FunnelStep("interaction", "checkout_started"),
    FunnelStep("interaction", "order_placed"),
]


def population() -> dict[str, list[Step]]:
    """Planted groups with known funnel progress (see the counts in the tests)."""
    journeys: dict[str, list[Step]] = {}

    def add(prefix: str, count: int, script: list[tuple[timedelta, str]]) -> None:
        for i in range(count):
            start = SINCE + DAY + (i % 20) * HOUR
            j = Journey(f"{prefix}{i:03d}")
            for offset, name in script:
                j.did(name, start + offset)
            journeys[j.customer] = j.steps

    # All three steps; checkout 1 h, 3 h or 5 h after pricing, the order 90 min after checkout.
    add("fast", 300, [(0 * HOUR, "pricing_viewed"), (HOUR, "checkout_started"), (2.5 * HOUR, "order_placed")])
    add("mid", 200, [(0 * HOUR, "pricing_viewed"), (3 * HOUR, "checkout_started"), (4.5 * HOUR, "order_placed")])
    # Checkout after 5 h but the order comes 8 days after entry: outside the window.
    add("late", 100, [(0 * HOUR, "pricing_viewed"), (5 * HOUR, "checkout_started"), (8 * DAY, "order_placed")])
    # Only pricing.
    add("look", 100, [(0 * HOUR, "pricing_viewed"), (HOUR, "login")])
    # Checkout before pricing does not count.
    add("back", 100, [(0 * HOUR, "checkout_started"), (HOUR, "pricing_viewed")])
    # Checkout at the same instant as pricing is not strictly after it.
    add("same", 50, [(0 * HOUR, "pricing_viewed"), (0 * HOUR, "checkout_started")])
    # Pricing before the period or at its end: never entered.
    add("early", 50, [(-2 * DAY, "pricing_viewed"), (HOUR, "checkout_started"), (2 * HOUR, "order_placed")])
    add("after", 100, [(UNTIL - SINCE - DAY, "pricing_viewed"), (DAY + HOUR, "checkout_started")])
    return journeys


def test_funnel_counts_conversion_and_drop_off_are_exact() -> None:
    result = funnel(population(), STEPS, within=WITHIN, since=SINCE, until=UNTIL)

    assert [s.entered for s in result.steps] == [850, 600, 500]
    assert [s.conversion_rate for s in result.steps] == [None, 600 / 850, 500 / 600]
    assert [s.drop_off for s in result.steps] == [250, 100, 0]
    assert result.overall_conversion == 500 / 850
    assert [s.step for s in result.steps] == STEPS


def test_median_time_to_convert_is_from_the_previous_step() -> None:
    result = funnel(population(), STEPS, within=WITHIN, since=SINCE, until=UNTIL)

    # Checkout: 300 × 1 h, 200 × 3 h, 100 × 5 h → the 300th and 301st of 600 are 1 h and 3 h.
    assert result.steps[0].median_seconds_to_convert is None
    assert result.steps[1].median_seconds_to_convert == 2 * 3600
    assert result.steps[2].median_seconds_to_convert == 1.5 * 3600


def test_a_wider_window_lets_the_late_order_count() -> None:
    result = funnel(population(), STEPS, within=9 * DAY, since=SINCE, until=UNTIL)

    assert [s.entered for s in result.steps] == [850, 600, 600]


def test_shuffled_steps_give_the_identical_funnel() -> None:
    journeys = population()

    assert funnel(shuffled(journeys), STEPS, within=WITHIN, since=SINCE, until=UNTIL) == funnel(
        journeys, STEPS, within=WITHIN, since=SINCE, until=UNTIL
    )


def test_a_customer_enters_at_the_first_occurrence_of_the_first_step() -> None:
    j = (
        Journey("c")
        .did("pricing_viewed", T0 + DAY)
        .did("pricing_viewed", T0 + 10 * DAY)
        .did("checkout_started", T0 + 10 * DAY + HOUR)
    )

    result = funnel({"c": j.steps}, STEPS[:2], within=WITHIN, since=SINCE, until=UNTIL)

    assert [s.entered for s in result.steps] == [1, 0]
    assert result.steps[1].conversion_rate == 0.0
    assert result.steps[1].median_seconds_to_convert is None


def test_a_step_counts_at_its_first_occurrence_after_the_previous_one() -> None:
    j = (
        Journey("c")
        .did("pricing_viewed", T0 + DAY)
        .did("checkout_started", T0 + DAY + HOUR)
        .did("checkout_started", T0 + DAY + 2 * HOUR)
        .did("order_placed", T0 + DAY + 3 * HOUR)
    )

    result = funnel({"c": j.steps}, STEPS, within=WITHIN, since=SINCE, until=UNTIL)

    assert [s.median_seconds_to_convert for s in result.steps] == [None, 3600, 2 * 3600]


def test_the_last_step_may_land_exactly_at_the_end_of_the_window() -> None:
    j = Journey("c").did("pricing_viewed", T0 + DAY).did("checkout_started", T0 + DAY + WITHIN)

    result = funnel({"c": j.steps}, STEPS[:2], within=WITHIN, since=SINCE, until=UNTIL)

    assert [s.entered for s in result.steps] == [1, 1]


def test_stage_steps_match_any_step_in_that_stage() -> None:
    j1 = Journey("a").did("page_viewed", T0 + DAY).did("trial_started", T0 + 2 * DAY).did("order_placed", T0 + 3 * DAY)
    j2 = Journey("b").did("ad_clicked", T0 + DAY).did("demo_requested", T0 + 2 * DAY)
    steps = [FunnelStep("stage", "awareness"), FunnelStep("stage", "consideration"), FunnelStep("stage", "purchase")]

    result = funnel({"a": j1.steps, "b": j2.steps}, steps, within=WITHIN, since=SINCE, until=UNTIL)

    assert [s.entered for s in result.steps] == [2, 2, 1]
    assert result.steps[1].median_seconds_to_convert == 86400


def test_a_one_step_funnel_converts_everyone_who_entered() -> None:
    result = funnel(population(), STEPS[:1], within=WITHIN, since=SINCE, until=UNTIL)

    assert result.steps[0].entered == 850
    assert result.steps[0].drop_off == 0
    assert result.overall_conversion == 1.0


def test_nobody_entering_gives_no_rates() -> None:
    result = funnel({}, STEPS, within=WITHIN, since=SINCE, until=UNTIL)

    assert [s.entered for s in result.steps] == [0, 0, 0]
    assert [s.conversion_rate for s in result.steps] == [None, None, None]
    assert result.overall_conversion is None


@pytest.mark.parametrize(
    ("steps", "within", "message"),
    [
        ([], WITHIN, "at least one step"),
        ([FunnelStep("page", "x")], WITHIN, "unknown kind 'page'"),
        ([FunnelStep("stage", "")], WITHIN, "needs a value"),
        (STEPS, timedelta(0), "window must be positive"),
        ([FunnelStep("stage", "usage")] * 21, WITHIN, "at most 20 steps"),
    ],
)
def test_a_bad_funnel_is_refused(steps: list[FunnelStep], within: timedelta, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        funnel({}, steps, within=within, since=SINCE, until=UNTIL)
