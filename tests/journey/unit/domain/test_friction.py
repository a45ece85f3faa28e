"""Per-stage statistics are exact, and a planted friction stage or move is ranked first with its evidence."""

from __future__ import annotations

import pytest

from cxm_journey.domain.friction import (
    StageStats,
    Weights,
    friction_points,
    shrunk_lift,
    stage_stats,
    transition_stats,
)
from cxm_journey.domain.paths import Step
from cxm_journey.domain.stages import DEFAULT_STAGE_MAP

from .journeys import DAY, HOUR, T0, Journey, shuffled

SINCE = T0
NOW = T0 + 90 * DAY
UNTIL = NOW
ABANDON_AFTER = 14 * DAY
WINDOW = 7 * DAY


def planted(n: int = 1000) -> dict[str, list[Step]]:
    """Customers through awareness → … → usage; onboarding has 60% detractors (10% elsewhere) and 15% stop there.

    One in ten customers who reach usage (i % 10 == 5) also opens one ticket and returns to usage.
    """
    journeys: dict[str, list[Step]] = {}
    for i in range(n):
        j = Journey(f"c{i:04d}")
        start = T0 + (i % 25) * DAY
        usual = 3 if i % 10 == 0 else 9
        for d, name in enumerate(["page_viewed", "pricing_viewed", "order_placed", "signup_completed"]):
            at = start + d * HOUR
            j.did(name, at)
            if name == "signup_completed":
                j.said(at + 0.5 * HOUR, nps=2 if i % 10 < 6 else 8)
            else:
                j.said(at + 0.5 * HOUR, nps=usual)
        if i % 20 < 3:
            journeys[j.customer] = j.steps
            continue
        j.did("login", start + DAY).said(start + DAY + HOUR, nps=usual)
        if i % 10 == 5:
            j.did("ticket_opened", start + 2 * DAY).did("login", start + 3 * DAY)
        journeys[j.customer] = j.steps
    return journeys


def stats_of(journeys: dict[str, list[Step]], **kw: object) -> dict[str, StageStats]:
    """stage_stats keyed by stage, with the test's period and thresholds."""
    stats = stage_stats(
        journeys,
        DEFAULT_STAGE_MAP,
        since=SINCE,
        until=UNTIL,
        now=NOW,
        abandon_after=ABANDON_AFTER,
        contact_window=WINDOW,
        **kw,  # type: ignore[arg-type]
    )
    return {s.stage: s for s in stats}


def test_stage_stats_on_the_planted_population_are_exact() -> None:
    stats = stats_of(planted(), values={f"c{i:04d}": 100.0 for i in range(1000)})

    awareness, onboarding, usage, support = stats["awareness"], stats["onboarding"], stats["usage"], stats["support"]
    assert (awareness.customers, awareness.entries, awareness.exits) == (1000, 1000, 1000)
    assert (awareness.detractors, awareness.nps_answers, awareness.nps) == (100, 1000, 80.0)
    assert (onboarding.entries, onboarding.exits, onboarding.abandoned) == (1000, 850, 150)
    assert (onboarding.detractors, onboarding.nps_answers, onboarding.nps) == (600, 1000, -60.0)
    assert onboarding.abandonment_rate == 0.15
    assert onboarding.value_at_stake == 600 * 100.0
    assert awareness.value_at_stake == 100 * 100.0
    assert (usage.customers, usage.entries, usage.abandoned) == (850, 850 + 100, 0)
    assert (usage.detractors, usage.nps_answers) == (50, 850)
    assert (support.entries, support.abandoned, support.repeat_contact_rate) == (100, 0, 0.0)
    assert stats["churned"].entries == 0 and stats["churned"].nps is None
    assert list(stats) == list(DEFAULT_STAGE_MAP.stages)


def test_the_planted_friction_stage_is_ranked_first() -> None:
    stats = stats_of(planted())

    points = friction_points(list(stats.values()))

    assert points[0].kind == "stage" and points[0].key == "onboarding"
    assert stats["onboarding"].friction_score == 1.0
    assert all(s.friction_score < 0.2 for s in stats.values() if s.stage != "onboarding")
    assert [p.impact for p in points] == sorted((p.impact for p in points), reverse=True)


def test_a_friction_point_carries_the_numbers_behind_its_impact() -> None:
    onboarding = friction_points(list(stats_of(planted()).values()))[0]
    e = onboarding.evidence

    assert e["baseline_detractor_share"] == (3 * 100 + 600 + 50) / (4 * 1000 + 850)
    assert e["detractor_share"] == 0.6
    lift = 1000 / 1020 * (0.6 - e["baseline_detractor_share"])
    assert onboarding.detractor_lift == pytest.approx(lift)
    assert e["experience_term"] == pytest.approx(1000 * lift)
    assert e["abandonment_term"] == 150.0
    assert onboarding.impact == pytest.approx(e["experience_term"] + e["repeat_term"] + e["abandonment_term"])
    assert onboarding.traffic == 1000
    assert onboarding.abandonment_rate == 0.15


def test_shuffled_steps_give_identical_stats_and_points() -> None:
    journeys = planted()

    assert stats_of(shuffled(journeys)) == stats_of(journeys)
    assert transition_stats(shuffled(journeys), since=SINCE, until=UNTIL, now=NOW) == transition_stats(
        journeys, since=SINCE, until=UNTIL, now=NOW
    )


def test_feedback_scores_are_summarised_per_stage() -> None:
    j = (
        Journey("c")
        .did("login", T0)
        .said(T0 + HOUR, nps=10, csat=5, ces=6, sentiment_score=0.5, sentiment_label="positive")
        .said(T0 + 2 * HOUR, nps=6, csat=3, ces=2, sentiment_score=-0.4)
        .said(T0 + 3 * HOUR, sentiment_score=0.1, sentiment_label="negative")
        .said(T0 + 4 * HOUR, sentiment_score=-0.1)
    )

    usage = stats_of({"c": j.steps})["usage"]

    assert (usage.nps, usage.csat, usage.ces) == (0.0, 50.0, 4.0)
    assert usage.sentiment == pytest.approx(0.1 / 4)
    assert (usage.feedback, usage.nps_answers, usage.detractors) == (4, 2, 1)
    assert (usage.negative, usage.sentiment_n) == (2, 4)


def test_feedback_at_a_mapped_touchpoint_counts_for_that_stage() -> None:
    j = Journey("c").did("login", T0).said(T0 + HOUR, touchpoint="billing", nps=0).did("login", T0 + DAY)

    stats = stats_of({"c": j.steps})

    assert (stats["billing"].entries, stats["billing"].detractors) == (1, 1)
    assert (stats["usage"].entries, stats["usage"].detractors) == (2, 0)


def test_repeat_contacts_count_for_the_support_visit_and_the_stage_that_led_there() -> None:
    a = (
        Journey("a")
        .did("login", T0)
        .did("invoice_sent", T0 + DAY)
        .did("ticket_opened", T0 + 2 * DAY)
        .did("ticket_reopened", T0 + 3 * DAY)
        .did("login", T0 + 4 * DAY)
    )
    b = (
        Journey("b")
        .did("login", T0)
        .did("ticket_opened", T0 + DAY)
        .did("login", T0 + 2 * DAY)
        .did("chat_started", T0 + 20 * DAY)
        .did("login", T0 + 21 * DAY)
    )

    stats = stats_of({"a": a.steps, "b": b.steps})

    assert stats["billing"].repeat_contact_rate == 1.0
    assert stats["support"].repeat_contact_rate == 1 / 3
    assert stats["usage"].repeat_contact_rate == 0.0
    assert stats["awareness"].repeat_contact_rate is None


def test_only_a_last_idle_visit_outside_steady_and_terminal_stages_is_abandoned() -> None:
    journeys = {
        "idle_purchase": Journey("a").did("order_placed", T0).steps,
        "recent_purchase": Journey("b").did("order_placed", NOW - DAY).steps,
        "lively_purchase": Journey("c").did("order_placed", T0).did("cart_updated", NOW - DAY).steps,
        "moved_on": Journey("d").did("order_placed", T0).did("signup_completed", T0 + DAY).steps,
        "steady": Journey("e").did("login", T0).steps,
        "churned": Journey("f").did("subscription_cancelled", T0).steps,
    }

    stats = stats_of(journeys)

    assert (stats["purchase"].entries, stats["purchase"].abandoned) == (4, 1)
    assert stats["onboarding"].abandoned == 1
    assert stats["usage"].abandoned == 0
    assert stats["churned"].abandoned == 0


def test_only_visits_entered_in_the_period_count() -> None:
    j = Journey("c").did("login", SINCE - DAY).did("invoice_sent", SINCE + DAY).did("login", UNTIL)

    stats = stats_of({"c": j.steps})

    assert stats["usage"].entries == 0
    assert stats["billing"].entries == 1


def test_steps_after_now_are_ignored() -> None:
    j = Journey("c").did("order_placed", T0).did("signup_completed", NOW + DAY)

    stats = stats_of({"c": j.steps})

    assert stats["purchase"].abandoned == 1
    assert stats["onboarding"].entries == 0


def test_value_at_stake_is_absent_without_values() -> None:
    assert stats_of(planted(100))["onboarding"].value_at_stake is None


def test_lifts_shrink_toward_zero_for_few_answers() -> None:
    assert shrunk_lift(0, 0, 0.1, 20.0) is None
    assert shrunk_lift(5, 10, None, 20.0) is None
    assert shrunk_lift(2, 2, 0.1, 20.0) == pytest.approx(2 / 22 * 0.9)
    assert shrunk_lift(2, 2, 0.1, 20.0) < shrunk_lift(50, 50, 0.1, 20.0)  # type: ignore[operator]
    assert shrunk_lift(1, 10, 0.1, 0.0) == pytest.approx(0.0)


def test_a_small_stage_with_all_detractors_ranks_below_a_large_moderately_bad_one() -> None:
    journeys: dict[str, list[Step]] = {}
    for i in range(400):
        j = Journey(f"c{i:03d}").did("login", T0).said(T0 + HOUR, nps=3 if i % 10 < 1 else 9)
        j.did("invoice_sent", T0 + DAY).said(T0 + DAY + HOUR, nps=3 if i % 10 < 4 else 9).did("login", T0 + 2 * DAY)
        if i < 3:
            j.did("renewal_notice", T0 + 3 * DAY).said(T0 + 3 * DAY + HOUR, nps=0).did("login", T0 + 4 * DAY)
        journeys[j.customer] = j.steps

    points = friction_points(list(stats_of(journeys).values()))

    assert [p.key for p in points][:2] == ["billing", "renewal"]


def test_a_planted_bad_transition_is_ranked_first_among_transitions() -> None:
    journeys: dict[str, list[Step]] = {}
    for i in range(300):
        j = Journey(f"c{i:03d}")
        if i < 100:
            j.did("subscription_renewed", T0).said(T0 + HOUR, nps=9)
            j.did("invoice_sent", T0 + DAY).said(T0 + DAY + HOUR, nps=1)
        else:
            j.did("login", T0).said(T0 + HOUR, nps=9)
            j.did("invoice_sent", T0 + DAY).said(T0 + DAY + HOUR, nps=9)
        j.did("login", T0 + 2 * DAY)
        journeys[j.customer] = j.steps
    stats = stats_of(journeys)
    moves = transition_stats(journeys, since=SINCE, until=UNTIL, now=NOW)

    points = [p for p in friction_points(list(stats.values()), moves) if p.kind == "transition"]

    assert moves[("renewal", "billing")].count == 100
    assert moves[("renewal", "billing")].detractors == 100
    assert moves[("usage", "billing")].detractors == 0
    assert moves[("billing", "usage")].count == 300
    assert points[0].key == "renewal→billing"
    assert points[0].traffic == 100
    assert points[0].evidence["detractor_share"] == 1.0
    assert {p.key for p in points} == {"renewal→billing"}


def test_weights_change_what_repeat_contacts_and_abandonment_count_for() -> None:
    stats = list(stats_of(planted()).values())

    without = friction_points(stats, weights=Weights(abandon=0.0))
    onboarding = next(p for p in without if p.key == "onboarding")

    assert onboarding.evidence["abandonment_term"] == 0.0
    assert onboarding.impact == pytest.approx(onboarding.evidence["experience_term"])


def test_places_with_too_little_traffic_are_left_out() -> None:
    stats = list(stats_of(planted()).values())

    assert all(p.traffic >= 950 for p in friction_points(stats, min_traffic=950))
    assert friction_points([]) == []
