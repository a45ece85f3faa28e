"""Churn risk: each signal raises the score with its reason, a calm customer is low, and the backtest is exact."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from cxm_journey.domain.churn import SIGNALS, backtest, churn_risk, level_of, noisy_or, sentiment_slope
from cxm_journey.domain.paths import Step
from cxm_journey.domain.stages import DEFAULT_STAGE_MAP

from .journeys import DAY, HOUR, T0, Journey

NOW = T0 + 120 * DAY


def calm(cid: str = "c", now: datetime = NOW) -> Journey:
    """An active, content customer: signed up 60 days ago, logs in every 5 days, a promoter."""
    j = Journey(cid).did("signup_completed", now - 60 * DAY)
    for d in range(55, 0, -5):
        j.did("login", now - d * DAY + HOUR)
    return j.said(now - 10 * DAY, nps=9, sentiment_score=0.6)


def risk_of(j: Journey, **kw: object) -> tuple[float, str, list[str]]:
    """The score, level and reason signals of a journey's risk at NOW."""
    r = churn_risk(j.steps, DEFAULT_STAGE_MAP, now=NOW, **kw)  # type: ignore[arg-type]
    return r.score, r.level, [x.signal for x in r.reasons]


def detractor(j: Journey) -> Journey:
    """A recent NPS detractor answer."""
    return j.said(NOW - 5 * DAY, nps=4)


def unhappy_csat(j: Journey) -> Journey:
    """A recent CSAT answer of 2."""
    return j.said(NOW - 5 * DAY, csat=2)


def falling(j: Journey) -> Journey:
    """Sentiment going from good to bad over the last answers."""
    return j.said(NOW - 8 * DAY, sentiment_score=0.1).said(NOW - 2 * DAY, sentiment_score=-0.5)


def contacts(j: Journey) -> Journey:
    """Three support contacts in the last two weeks, back to usage after."""
    j.did("ticket_opened", NOW - 10 * DAY).did("ticket_replied", NOW - 8 * DAY).did("chat_started", NOW - 3 * DAY)
    return j.did("login", NOW - 2 * DAY)


def threat(j: Journey) -> Journey:
    """Feedback threatening to leave."""
    return j.said(NOW - 3 * DAY, intent="churn_threat")


def abandoned(_: Journey) -> Journey:
    """Ordered and signed up, then nothing for 20 days."""
    return Journey("c").did("order_placed", NOW - 40 * DAY).did("signup_completed", NOW - 20 * DAY)


def inactive(_: Journey) -> Journey:
    """Used the product for a while, then nothing for 40 days."""
    j = Journey("c").did("signup_completed", NOW - 90 * DAY)
    for d in range(80, 39, -10):
        j.did("login", NOW - d * DAY)
    return j


def test_a_calm_customer_is_low_risk_with_no_reasons() -> None:
    assert risk_of(calm()) == (0.0, "low", [])


@pytest.mark.parametrize(
    ("make", "signal"),
    [
        (detractor, "recent_detractor"),
        (unhappy_csat, "recent_detractor"),
        (falling, "falling_sentiment"),
        (contacts, "repeated_contacts"),
        (threat, "churn_threat"),
        (abandoned, "abandonment"),
        (inactive, "inactivity"),
    ],
)
def test_each_signal_raises_the_score_by_its_weight_with_its_reason(
    make: Callable[[Journey], Journey], signal: str
) -> None:
    score, level, reasons = risk_of(make(calm()))

    assert reasons == [signal]
    assert score == pytest.approx(SIGNALS[signal])
    assert score > 0
    assert level == level_of(SIGNALS[signal]) != "low"


def test_signals_combine_by_noisy_or_and_reasons_come_heaviest_first() -> None:
    score, level, reasons = risk_of(contacts(detractor(threat(calm()))))

    assert reasons == ["churn_threat", "recent_detractor", "repeated_contacts"]
    assert score == pytest.approx(1 - (1 - 0.5) * (1 - 0.35) * (1 - 0.3))
    assert level == "high"


def test_a_churned_customer_is_high_risk_with_churned_as_the_first_reason() -> None:
    j = detractor(calm()).did("subscription_cancelled", NOW - DAY)

    r = churn_risk(j.steps, DEFAULT_STAGE_MAP, now=NOW)

    assert (r.score, r.level) == (1.0, "high")
    assert [x.signal for x in r.reasons] == ["churned", "recent_detractor"]
    assert "churned" in r.reasons[0].detail


def test_a_customer_who_came_back_after_churning_is_not_churned() -> None:
    j = calm().did("subscription_cancelled", NOW - 5 * DAY).did("login", NOW - DAY)

    assert risk_of(j) == (0.0, "low", [])


def test_reasons_say_what_was_seen() -> None:
    r = churn_risk(detractor(calm()).steps, DEFAULT_STAGE_MAP, now=NOW)

    assert r.reasons[0].detail == f"NPS 4 on {(NOW - 5 * DAY).date().isoformat()}"
    assert r.reasons[0].weight == SIGNALS["recent_detractor"]


def test_only_steps_up_to_now_count() -> None:
    j = calm().said(NOW + DAY, nps=0).said(NOW + DAY, intent="churn_threat").did("subscription_cancelled", NOW + DAY)

    assert risk_of(j) == (0.0, "low", [])


def test_old_detractors_and_threats_no_longer_count() -> None:
    j = calm().said(NOW - 31 * DAY, nps=0).said(NOW - 31 * DAY, intent="churn_threat")

    assert risk_of(j) == (0.0, "low", [])


def test_falling_sentiment_needs_three_scores_trending_down() -> None:
    two = Journey("c").did("login", NOW - DAY).said(NOW, sentiment_score=0.8)
    two.said(NOW, sentiment_score=-0.8)
    zigzag = calm().said(NOW - 8 * DAY, sentiment_score=-0.4).said(NOW - 6 * DAY, sentiment_score=0.5)
    zigzag.said(NOW - 4 * DAY, sentiment_score=-0.3).said(NOW - 2 * DAY, sentiment_score=0.4)

    assert "falling_sentiment" not in risk_of(two)[2]
    assert "falling_sentiment" not in risk_of(zigzag)[2]


def test_only_the_last_five_sentiment_scores_count() -> None:
    j = calm()  # a 0.6 ten days ago
    for d, s in [(30, 0.9), (25, 0.9), (9, -0.5), (8, -0.3), (7, 0.0), (6, 0.2), (4, 0.4)]:
        j.said(NOW - d * DAY, sentiment_score=s)
    every = [0.9, 0.9, 0.6, -0.5, -0.3, 0.0, 0.2, 0.4]

    assert sentiment_slope(every) < -0.1 and every[-1] < every[0]
    assert "falling_sentiment" not in risk_of(j)[2]


def test_two_contacts_are_not_repeated_contacts() -> None:
    j = calm().did("ticket_opened", NOW - 10 * DAY).did("chat_started", NOW - 3 * DAY).did("login", NOW - 2 * DAY)

    assert risk_of(j) == (0.0, "low", [])


def test_a_passer_by_is_not_inactive() -> None:
    j = Journey("c").did("page_viewed", NOW - 60 * DAY).did("pricing_viewed", NOW - 59 * DAY)

    assert risk_of(j) == (0.0, "low", [])


def test_value_at_risk_is_the_score_times_the_value() -> None:
    r = churn_risk(threat(calm()).steps, DEFAULT_STAGE_MAP, now=NOW, value=1200.0)

    assert r.value_at_risk == pytest.approx(600.0)
    assert churn_risk(calm().steps, DEFAULT_STAGE_MAP, now=NOW).value_at_risk is None


def test_weights_can_be_overridden() -> None:
    score, level, _ = risk_of(detractor(calm()), weights={"recent_detractor": 0.1})

    assert score == pytest.approx(0.1)
    assert level == "low"


def test_levels_noisy_or_and_slope() -> None:
    assert [level_of(s) for s in (0.0, 0.24, 0.25, 0.49, 0.5, 1.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]
    assert noisy_or([]) == 0.0
    assert noisy_or([0.5, 0.5]) == 0.75
    assert sentiment_slope([1.0, 0.5, 0.0]) == -0.5
    assert sentiment_slope([0.3]) == 0.0


CUTOFF = NOW
HORIZON = timedelta(days=30)


def backtest_population() -> dict[str, list[Step]]:
    """Planted groups: who is flagged at the cutoff and who churns within the horizon is known (see the test)."""
    journeys: dict[str, list[Step]] = {}

    def add(prefix: str, count: int, make: Callable[[Journey], Journey], churn_after: timedelta | None) -> None:
        for i in range(count):
            j = make(calm(f"{prefix}{i:03d}", CUTOFF))
            for d in (5, 10, 15):
                j.did("login", CUTOFF + d * DAY - HOUR)
            if churn_after is not None:
                j.did("subscription_cancelled", CUTOFF + churn_after)
            journeys[j.customer] = j.steps

    add("threat_churn", 100, threat, 10 * DAY)  # high, churns: true positive
    add("threat_stay", 50, threat, None)  # high, stays: false positive
    add("detractor_churn", 60, detractor, 20 * DAY)  # medium, churns
    add("calm_churn", 200, lambda j: j, HORIZON)  # low, churns on the horizon's last instant
    add("calm_stay", 500, lambda j: j, None)  # low, stays
    add("calm_late", 50, lambda j: j, HORIZON + HOUR)  # low, churns after the horizon
    add("gone", 50, lambda j: j.did("subscription_cancelled", CUTOFF - DAY), None)  # churned already: left out
    for i in range(30):  # not yet a customer at the cutoff: left out
        journeys[f"new{i:03d}"] = Journey(f"new{i:03d}").did("signup_completed", CUTOFF + DAY).steps
    return journeys


def test_backtest_precision_and_recall_are_exact_on_a_planted_population() -> None:
    result = backtest(backtest_population(), DEFAULT_STAGE_MAP, cutoff=CUTOFF, horizon=HORIZON)

    assert (result.cutoff, result.horizon_days) == (CUTOFF, 30)
    assert result.customers == 100 + 50 + 60 + 200 + 500 + 50
    assert result.churned == 100 + 60 + 200
    assert (result.flagged, result.true_positives) == (150, 100)
    assert result.precision == 100 / 150
    assert result.recall == 100 / 360


def test_a_lower_threshold_flags_more_customers() -> None:
    result = backtest(backtest_population(), DEFAULT_STAGE_MAP, cutoff=CUTOFF, horizon=HORIZON, threshold="medium")

    assert (result.flagged, result.true_positives) == (210, 160)
    assert result.precision == 160 / 210
    assert result.recall == 160 / 360


def test_a_backtest_of_nobody_has_no_rates() -> None:
    result = backtest({}, DEFAULT_STAGE_MAP, cutoff=CUTOFF, horizon=HORIZON)

    assert (result.customers, result.precision, result.recall) == (0, None, None)


@pytest.mark.parametrize(
    ("threshold", "horizon", "message"), [("severe", HORIZON, "threshold must be one of"), ("high", -DAY, "positive")]
)
def test_a_bad_backtest_is_refused(threshold: str, horizon: timedelta, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backtest({}, DEFAULT_STAGE_MAP, cutoff=CUTOFF, horizon=horizon, threshold=threshold)
