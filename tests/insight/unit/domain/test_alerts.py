"""Emerging issues are raised on planted changes and stay quiet on noise, with a round-wide threshold."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from cxm_insight.domain.alerts import (
    CHURN_THREAT,
    METRIC_DROP,
    NEGATIVITY_RISE,
    VOLUME_SPIKE,
    bonferroni,
    churn_spike,
    compare_metric,
    compare_volume,
    dedupe_key,
    metric_drop,
    negativity_rise,
    should_resolve,
    volume_spike,
)
from cxm_insight.domain.metrics import Tally

KEYS = 20
ROUNDS = 200


def nps_tally(rng: np.random.Generator, n: int, detractors: float = 0.3, promoters: float = 0.4) -> Tally:
    counts = rng.multinomial(n, [detractors, 1 - detractors - promoters, promoters])
    return Tally(count=n, nps_n=n, detractors=int(counts[0]), promoters=int(counts[2]))


def test_bonferroni_divides_alpha_by_the_keys_tested() -> None:
    assert bonferroni() == pytest.approx(0.001)
    assert bonferroni(0.001, 20) == pytest.approx(0.00005)
    assert bonferroni(0.01, 0) == pytest.approx(0.01)
    with pytest.raises(ValueError):
        bonferroni(1.5)


def test_a_planted_volume_spike_fires() -> None:
    baseline = np.random.default_rng(1).poisson(5, 60).tolist()

    detection = volume_spike("billing", 25, baseline)

    assert detection is not None
    assert detection.kind == VOLUME_SPIKE
    assert detection.key == "billing"
    assert detection.observed == 25
    assert detection.expected == pytest.approx(sum(baseline) / 60, rel=0.01)
    assert detection.p_value < 1e-7
    assert detection.severity == "high"
    assert detection.evidence["baseline_windows"] == 60


def test_volume_noise_across_many_keys_and_rounds_stays_quiet() -> None:
    rng = np.random.default_rng(2)
    history = rng.poisson(5, (60 + ROUNDS, KEYS))

    alarms = sum(
        volume_spike(f"topic-{k}", int(history[r + 60, k]), history[r : r + 60, k].tolist(), tests=KEYS) is not None
        for r in range(ROUNDS)
        for k in range(KEYS)
    )

    assert alarms <= 1


def test_exposure_turns_overall_growth_into_no_spike() -> None:
    baseline = [10, 12, 9, 11, 10, 8]
    totals = [100.0, 110, 95, 105, 100, 90]

    assert volume_spike("billing", 30, baseline) is not None
    assert volume_spike("billing", 30, baseline, exposure=300.0, baseline_exposures=totals) is None


def test_small_counts_and_short_baselines_raise_nothing() -> None:
    assert volume_spike("billing", 4, [0, 0, 0, 0, 0]) is None
    assert volume_spike("billing", 40, [1, 1]) is None
    assert compare_volume(40, [1, 1]) is None


def test_a_key_never_seen_before_can_still_spike() -> None:
    assert volume_spike("new-topic", 12, [0] * 30) is not None


def test_a_churn_threat_spike_is_its_own_kind() -> None:
    detection = churn_spike("churn_threat", 20, [2, 3, 1, 2, 4, 2, 3, 2])

    assert detection is not None and detection.kind == CHURN_THREAT


def test_a_planted_negativity_rise_fires() -> None:
    detection = negativity_rise("delivery", negative=30, total=60, baseline_negative=400, baseline_total=2000)

    assert detection is not None
    assert detection.kind == NEGATIVITY_RISE
    assert detection.observed == pytest.approx(50.0)
    assert detection.expected == pytest.approx(20.0, abs=0.1)
    assert detection.severity == "high"


def test_negativity_noise_stays_quiet() -> None:
    rng = np.random.default_rng(3)
    alarms = 0
    for _ in range(ROUNDS):
        for k in range(KEYS):
            total, baseline_total = int(rng.poisson(60)), int(rng.poisson(600))
            negative, baseline_negative = int(rng.binomial(total, 0.2)), int(rng.binomial(baseline_total, 0.2))
            alarms += (
                negativity_rise(f"t{k}", negative, total, baseline_negative, baseline_total, tests=KEYS) is not None
            )

    assert alarms <= 1


def test_negativity_falling_or_thin_raises_nothing() -> None:
    assert negativity_rise("delivery", 5, 60, 600, 2000) is None
    assert negativity_rise("delivery", 4, 4, 0, 2000) is None
    assert negativity_rise("delivery", 10, 10, 0, 10) is None


def test_a_planted_nps_drop_fires() -> None:
    rng = np.random.default_rng(4)
    baseline = nps_tally(rng, 3000)
    current = nps_tally(rng, 200, detractors=0.55, promoters=0.2)

    detection = metric_drop("all", "nps", current, baseline)

    assert detection is not None
    assert detection.kind == METRIC_DROP
    assert detection.expected == pytest.approx(10.0, abs=6.0)
    assert detection.observed == pytest.approx(-35.0, abs=8.0)
    assert detection.severity == "high"
    assert detection.evidence["metric"] == "nps"


def test_a_csat_drop_fires() -> None:
    baseline = Tally(count=1000, csat_n=1000, csat_sat=800)
    current = Tally(count=100, csat_n=100, csat_sat=55)

    detection = metric_drop("all", "csat", current, baseline)

    assert detection is not None
    assert detection.observed == pytest.approx(55.0)
    assert detection.expected == pytest.approx(80.0)


def test_metric_noise_stays_quiet() -> None:
    rng = np.random.default_rng(5)

    alarms = sum(
        metric_drop(f"t{k}", "nps", nps_tally(rng, 80), nps_tally(rng, 1500), tests=KEYS) is not None
        for _ in range(ROUNDS)
        for k in range(KEYS)
    )

    assert alarms <= 1


def test_metric_rises_and_thin_periods_raise_nothing() -> None:
    rng = np.random.default_rng(6)
    baseline = nps_tally(rng, 3000)

    assert metric_drop("all", "nps", nps_tally(rng, 200, detractors=0.05, promoters=0.9), baseline) is None
    assert metric_drop("all", "nps", Tally(count=10, nps_n=10, detractors=10), baseline) is None
    with pytest.raises(ValueError, match="metric"):
        metric_drop("all", "ces", baseline, baseline)


def test_comparisons_report_p_values_even_when_unremarkable() -> None:
    rng = np.random.default_rng(7)
    baseline = nps_tally(rng, 3000)

    comparison = compare_metric("nps", baseline, baseline)

    assert comparison is not None
    assert comparison.p_value == pytest.approx(0.5)


def test_dedupe_keys_are_one_per_kind_key_and_window() -> None:
    window = datetime(2025, 3, 1, 10, tzinfo=UTC)
    same_instant = window.astimezone(timezone(timedelta(hours=2)))

    key = dedupe_key(VOLUME_SPIKE, "billing", window)

    assert key == dedupe_key(VOLUME_SPIKE, "billing", same_instant)
    assert key.startswith("volume_spike:")
    assert key != dedupe_key(VOLUME_SPIKE, "billing", window + timedelta(hours=1))
    assert key != dedupe_key(NEGATIVITY_RISE, "billing", window)
    assert key != dedupe_key(VOLUME_SPIKE, "delivery", window)
    assert key != dedupe_key(VOLUME_SPIKE, "billing", window, scope="tenant-2")


def test_an_alert_resolves_after_quiet_windows_and_not_before() -> None:
    assert should_resolve([1e-9, 0.4, 0.7])
    assert should_resolve([1e-9, None, 0.3])
    assert not should_resolve([1e-9, 0.4])
    assert not should_resolve([0.5, 0.01, 0.6]), "still elevated a window ago"
    assert not should_resolve([0.5])
    assert should_resolve([0.2, 0.3, 0.9], quiet_windows=3)
