"""Key-driver analysis finds the topics that move the score, and what_changed explains a change per topic."""

import numpy as np
import pytest

from cxm_insight.domain.drivers import Breakdown, DriverAnalysis, breakdown, key_drivers, relative_weights, what_changed
from cxm_insight.domain.metrics import Tally

TOPICS = ["billing", "delivery", "placebo"]


def planted_nps(n: int = 2000, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """NPS answers where billing costs 3 points, delivery 1, and placebo nothing."""
    rng = np.random.default_rng(seed)
    topics = (rng.random((n, 3)) < [0.2, 0.3, 0.25]).astype(float)
    latent = 8.5 - 3.0 * topics[:, 0] - 1.0 * topics[:, 1] + rng.normal(0.0, 1.5, n)
    return np.clip(np.rint(latent), 0, 10), topics


@pytest.fixture(scope="module")
def analysis() -> DriverAnalysis:
    outcome, topics = planted_nps()
    return key_drivers(outcome, topics, TOPICS, scale="nps", seed=5)


def test_the_planted_driver_ranks_first_and_drags_the_score_down(analysis: DriverAnalysis) -> None:
    billing = analysis.drivers[0]

    assert billing.topic == "billing"
    assert billing.significant
    assert billing.direction == -1
    assert billing.effect == pytest.approx(-3.0, abs=0.5)
    assert billing.ci_low < billing.effect < billing.ci_high < 0
    assert billing.p_value < 1e-6
    assert billing.impact_points < 0


def test_the_smaller_driver_is_found_with_its_size(analysis: DriverAnalysis) -> None:
    delivery = next(d for d in analysis.drivers if d.topic == "delivery")

    assert [d.topic for d in analysis.drivers].index("delivery") == 1
    assert delivery.significant and delivery.direction == -1
    assert delivery.effect == pytest.approx(-1.0, abs=0.25)


def test_the_placebo_is_not_significant(analysis: DriverAnalysis) -> None:
    placebo = next(d for d in analysis.drivers if d.topic == "placebo")

    assert placebo.ci_low < 0 < placebo.ci_high
    assert not placebo.significant
    assert placebo.p_value > 0.01
    assert placebo.importance < 0.01


def test_importances_share_out_r_squared(analysis: DriverAnalysis) -> None:
    assert sum(d.importance for d in analysis.drivers) == pytest.approx(analysis.r_squared)
    assert [d.importance for d in analysis.drivers] == sorted((d.importance for d in analysis.drivers), reverse=True)
    assert analysis.reason is None
    assert analysis.n == 2000


def test_the_analysis_is_deterministic_for_a_seed() -> None:
    outcome, topics = planted_nps(300)

    first = key_drivers(outcome, topics, TOPICS, resamples=50, seed=1)
    again = key_drivers(outcome, topics, TOPICS, resamples=50, seed=1)

    assert first == again


def test_relative_weights_split_credit_between_collinear_predictors() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 1))
    y = x[:, 0] + rng.normal(size=500)

    weights = relative_weights(np.hstack([x, x]), y)

    assert weights[0] == pytest.approx(weights[1])
    assert weights.sum() == pytest.approx(np.corrcoef(x[:, 0], y)[0, 1] ** 2)


def test_csat_drivers_report_impact_in_percentage_points() -> None:
    rng = np.random.default_rng(2)
    topics = (rng.random((400, 1)) < 0.3).astype(float)
    outcome = np.where(topics[:, 0] == 1, rng.choice([1, 2, 3], 400), rng.choice([4, 5], 400)).astype(float)

    analysis = key_drivers(outcome, topics, ["wait"], scale="csat", resamples=100)

    wait = analysis.drivers[0]
    overall = 100.0 * np.mean(outcome >= 4)
    assert wait.impact_points == pytest.approx(overall - 100.0)
    assert wait.direction == -1 and wait.significant


def test_too_few_answers_give_no_drivers_and_say_why() -> None:
    outcome, topics = planted_nps(20)

    analysis = key_drivers(outcome, topics, TOPICS)

    assert analysis.drivers == []
    assert analysis.reason == "too few answers: 20 < 30"


def test_an_outcome_without_variance_gives_no_drivers() -> None:
    _, topics = planted_nps(100)

    analysis = key_drivers(np.full(100, 9.0), topics, TOPICS)

    assert analysis.drivers == []
    assert analysis.reason == "the outcome does not vary"


def test_topics_always_or_never_present_are_skipped_with_a_reason() -> None:
    outcome, topics = planted_nps(200)
    matrix = np.column_stack([topics[:, 0], np.ones(200), np.zeros(200), np.r_[np.ones(3), np.zeros(197)]])

    analysis = key_drivers(outcome, matrix, ["billing", "always", "never", "rare"], resamples=50)

    assert [d.topic for d in analysis.drivers] == ["billing"]
    assert analysis.skipped == {
        "always": "present in every answer",
        "never": "never present",
        "rare": "too few mentions: 3 < 10",
    }


def test_no_usable_topic_gives_no_drivers() -> None:
    outcome, _ = planted_nps(100)

    analysis = key_drivers(outcome, np.zeros((100, 1)), ["never"])

    assert analysis.drivers == []
    assert analysis.reason == "no topic with enough mentions to analyse"


def test_missing_answers_are_dropped_and_bad_input_refused() -> None:
    outcome, topics = planted_nps(200)
    outcome[:10] = np.nan

    assert key_drivers(outcome, topics, TOPICS, resamples=20).n == 190
    with pytest.raises(ValueError, match="must be 200 × 2"):
        key_drivers(outcome, topics, TOPICS[:2])
    with pytest.raises(ValueError, match="0–10"):
        key_drivers(np.full(200, 12.0), topics, TOPICS)
    with pytest.raises(ValueError, match="scale"):
        key_drivers(outcome, topics, TOPICS, scale="ces")


def test_what_changed_blames_the_topic_that_grew_and_hurt() -> None:
    rng = np.random.default_rng(3)

    def period(billing_share: float, n: int = 3000) -> Breakdown:
        topics = (rng.random((n, 3)) < [billing_share, 0.3, 0.25]).astype(float)
        latent = 8.5 - 3.0 * topics[:, 0] - 1.0 * topics[:, 1] + rng.normal(0.0, 1.5, n)
        return breakdown(np.clip(np.rint(latent), 0, 10), topics, TOPICS)

    before, after = period(0.1), period(0.35)

    change = what_changed(before, after)

    assert change.change is not None and change.change < -10
    first = change.topics[0]
    assert first.topic == "billing"
    assert first.share_change == pytest.approx(25.0, abs=3.0)
    assert first.mix_effect < -10
    assert abs(first.rate_effect) < abs(first.mix_effect) / 3
    assert abs(next(t for t in change.topics if t.topic == "placebo").contribution) < 3


def test_what_changed_credits_a_topic_whose_own_score_fell() -> None:
    def period(delivery_promoters: int) -> Breakdown:
        delivery = Tally(count=100, nps_n=100, promoters=delivery_promoters, detractors=20)
        rest = Tally(count=300, nps_n=300, promoters=150, detractors=60)
        return Breakdown(total=delivery.add(rest), by_topic={"delivery": delivery})

    change = what_changed(period(60), period(20))

    delivery = change.topics[0]
    assert delivery.score_change == pytest.approx(-40.0)
    assert delivery.mix_effect == pytest.approx(0.0)
    assert delivery.rate_effect == pytest.approx(change.change)
    assert delivery.contribution == pytest.approx(-10.0)


def test_the_shift_share_split_adds_up_exactly() -> None:
    before = Breakdown(
        total=Tally(count=200, nps_n=200, promoters=90, detractors=50),
        by_topic={"app": Tally(count=40, nps_n=40, promoters=10, detractors=20)},
    )
    after = Breakdown(
        total=Tally(count=250, nps_n=250, promoters=95, detractors=80),
        by_topic={"app": Tally(count=90, nps_n=90, promoters=15, detractors=50)},
    )

    change = what_changed(before, after)

    app = change.topics[0]
    rest_before = before.total.minus(before.by_topic["app"]).value("nps") or 0.0
    rest_after = after.total.minus(after.by_topic["app"]).value("nps") or 0.0
    assert app.contribution + (rest_after - rest_before) == pytest.approx(change.change)


def test_a_topic_new_in_the_second_period_is_credited_by_its_mix() -> None:
    before = Breakdown(total=Tally(count=100, nps_n=100, promoters=50, detractors=10), by_topic={})
    outage = Tally(count=50, nps_n=50, promoters=0, detractors=50)
    after = Breakdown(
        total=outage.add(Tally(count=100, nps_n=100, promoters=50, detractors=10)), by_topic={"outage": outage}
    )

    change = what_changed(before, after)

    outage_change = change.topics[0]
    assert outage_change.score_before is None
    assert outage_change.rate_effect == 0.0
    assert outage_change.contribution == pytest.approx(change.change)
