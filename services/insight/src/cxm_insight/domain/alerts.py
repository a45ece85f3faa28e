"""Emerging-issue detection by statistical tests against each key's own baseline, not fixed thresholds.

Each detector tests one key (a topic, a segment, …) in the current window against its previous windows and
returns a `Detection` when the evidence passes a family-wise threshold: `alpha` Bonferroni-divided by the
number of keys tested in the round (`tests`), so a round over many topics does not raise alarms on noise.
- volume_spike / churn_spike: a count now vs the baseline rate per unit of exposure (the window's total
  feedback, or its length), Poisson exact upper tail;
- negativity_rise: negative share now vs baseline, beta-binomial upper tail (the baseline share's own
  uncertainty is carried, so short baselines do not raise false alarms);
- metric_drop: NPS (answers coded +100/0/−100) or CSAT (100/0) mean now vs baseline, difference of means over
  its standard error, one-sided normal tail.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cxm_insight.domain.metrics import Tally
from cxm_insight.domain.stats import beta_binom_sf, normal_sf, poisson_sf

DEFAULT_ALPHA = 0.001
VOLUME_SPIKE = "volume_spike"
NEGATIVITY_RISE = "negativity_rise"
METRIC_DROP = "metric_drop"
CHURN_THREAT = "churn_threat"
KINDS = (VOLUME_SPIKE, NEGATIVITY_RISE, METRIC_DROP, CHURN_THREAT)
DROP_METRICS = ("nps", "csat")

MIN_COUNT = 5
MIN_BASELINE_WINDOWS = 4
MIN_SHARE_TOTAL = 20
MIN_METRIC_ANSWERS = 30
RESOLVE_ALPHA = 0.05
QUIET_WINDOWS = 2
# Severity by size of the change, once it is significant: (medium from, high from).
VOLUME_RATIO_BANDS = (2.0, 4.0)
SHARE_RISE_BANDS = (10.0, 25.0)
SCORE_DROP_BANDS = (5.0, 15.0)


@dataclass(frozen=True, slots=True)
class Detection:
    """One significant change: what was seen, what the baseline expected, how unlikely, how large."""

    kind: str
    key: str
    observed: float
    expected: float
    p_value: float
    severity: str
    evidence: dict[str, Any] = field(default_factory=dict)


def bonferroni(alpha: float = DEFAULT_ALPHA, tests: int = 1) -> float:
    """The per-test threshold keeping the family-wise false-alarm rate of a round of `tests` tests below alpha."""
    if not 0.0 < alpha < 1.0:
        raise ValueError("alpha must be between 0 and 1")
    return alpha / max(1, tests)


def severity_of(magnitude: float, bands: tuple[float, float]) -> str:
    """low, medium or high by how large a significant change is."""
    if magnitude >= bands[1]:
        return "high"
    if magnitude >= bands[0]:
        return "medium"
    return "low"


@dataclass(frozen=True, slots=True)
class Comparison:
    """One key's current window against its baseline: the test's outcome whether or not it is significant."""

    observed: float
    expected: float
    p_value: float
    magnitude: float
    evidence: dict[str, Any] = field(default_factory=dict)


def compare_volume(
    observed: int,
    baseline_counts: Sequence[int],
    *,
    exposure: float = 1.0,
    baseline_exposures: Sequence[float] | None = None,
    min_baseline_windows: int = MIN_BASELINE_WINDOWS,
) -> Comparison | None:
    """A count against its baseline rate × this window's exposure: Poisson exact upper tail.

    The baseline rate carries half a pseudo-count, so a key never seen before has a small but non-zero
    expectation. None with fewer than `min_baseline_windows` baseline windows or no exposure.
    """
    exposures = [1.0] * len(baseline_counts) if baseline_exposures is None else list(baseline_exposures)
    if len(exposures) != len(baseline_counts):
        raise ValueError("baseline_counts and baseline_exposures must have the same length")
    if any(c < 0 for c in baseline_counts) or observed < 0 or exposure < 0 or any(e < 0 for e in exposures):
        raise ValueError("counts and exposures must not be negative")
    baseline_total = int(sum(baseline_counts))
    baseline_exposure = float(sum(exposures))
    if len(baseline_counts) < min_baseline_windows or baseline_exposure <= 0 or exposure <= 0:
        return None
    expected = (baseline_total + 0.5) / baseline_exposure * exposure
    return Comparison(
        observed=float(observed),
        expected=expected,
        p_value=poisson_sf(observed, expected),
        magnitude=observed / expected,
        evidence={
            "test": "poisson_upper_tail",
            "baseline_count": baseline_total,
            "baseline_windows": len(baseline_counts),
            "baseline_exposure": baseline_exposure,
            "exposure": exposure,
            "rate_ratio": observed / expected,
        },
    )


def compare_negativity(negative: int, total: int, baseline_negative: int, baseline_total: int) -> Comparison | None:
    """A negative share against the baseline's: beta-binomial upper tail, share and magnitude in %.

    The baseline share is uncertain, Beta(baseline negatives + ½, baseline others + ½) (Jeffreys), so the
    current negatives are beta-binomial under "nothing changed". None when either period has no scored feedback.
    """
    if not 0 <= negative <= total or not 0 <= baseline_negative <= baseline_total:
        raise ValueError("negatives must be between 0 and their totals")
    if total == 0 or baseline_total == 0:
        return None
    a = baseline_negative + 0.5
    b = baseline_total - baseline_negative + 0.5
    baseline_share = a / (a + b)
    share = negative / total
    return Comparison(
        observed=100.0 * share,
        expected=100.0 * baseline_share,
        p_value=beta_binom_sf(negative, total, a, b),
        magnitude=100.0 * (share - baseline_share),
        evidence={
            "test": "beta_binomial_upper_tail",
            "negative": negative,
            "total": total,
            "baseline_negative": baseline_negative,
            "baseline_total": baseline_total,
        },
    )


def compare_metric(metric: str, current: Tally, baseline: Tally) -> Comparison | None:
    """NPS or CSAT now against the baseline: the drop's z over its standard error, one-sided normal tail.

    NPS is the mean of answers coded +100 / 0 / −100 and CSAT the mean of 100 / 0, so each period's variance
    follows from its tally. Magnitude is the drop in points. None when either period has no answers.
    """
    if metric not in DROP_METRICS:
        raise ValueError(f"metric must be one of {', '.join(DROP_METRICS)}, got {metric!r}")
    now, before = current.moments(metric), baseline.moments(metric)
    if now is None or before is None:
        return None
    (n1, mean1, var1), (n0, mean0, var0) = now, before
    drop = mean0 - mean1
    standard_error = math.sqrt(var1 / n1 + var0 / n0)
    if standard_error > 0:
        z = drop / standard_error
        p_value = normal_sf(z)
    else:
        z = math.inf if drop > 0 else 0.0
        p_value = 0.0 if drop > 0 else 1.0
    return Comparison(
        observed=mean1,
        expected=mean0,
        p_value=p_value,
        magnitude=drop,
        evidence={
            "test": "difference_of_means_z",
            "metric": metric,
            "z": z,
            "standard_error": standard_error,
            "answers": n1,
            "baseline_answers": n0,
        },
    )


def _detection(
    kind: str, key: str, comparison: Comparison | None, tests: int, alpha: float, bands: tuple[float, float]
) -> Detection | None:
    """The detection a comparison amounts to when it moved the adverse way past the round's threshold."""
    threshold = bonferroni(alpha, tests)
    if comparison is None or comparison.p_value >= threshold:
        return None
    adverse = (
        comparison.observed < comparison.expected if kind == METRIC_DROP else comparison.observed > comparison.expected
    )
    if not adverse:
        return None
    return Detection(
        kind=kind,
        key=key,
        observed=comparison.observed,
        expected=comparison.expected,
        p_value=comparison.p_value,
        severity=severity_of(comparison.magnitude, bands),
        evidence={**comparison.evidence, "threshold": threshold, "tests": tests, "alpha": alpha},
    )


def volume_spike(
    key: str,
    observed: int,
    baseline_counts: Sequence[int],
    *,
    exposure: float = 1.0,
    baseline_exposures: Sequence[float] | None = None,
    tests: int = 1,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = MIN_COUNT,
    min_baseline_windows: int = MIN_BASELINE_WINDOWS,
    kind: str = VOLUME_SPIKE,
) -> Detection | None:
    """A count now far above its baseline rate × this window's exposure (see `compare_volume`).

    Exposure is what the count scales with: the window's total feedback, to look for a topic taking a larger
    part, or its duration, to look at raw volume. None below `min_count`, with too short a baseline, or when not
    significant at `bonferroni(alpha, tests)`.
    """
    comparison = compare_volume(
        observed,
        baseline_counts,
        exposure=exposure,
        baseline_exposures=baseline_exposures,
        min_baseline_windows=min_baseline_windows,
    )
    if observed < min_count:
        return None
    return _detection(kind, key, comparison, tests, alpha, VOLUME_RATIO_BANDS)


def churn_spike(
    key: str,
    observed: int,
    baseline_counts: Sequence[int],
    *,
    exposure: float = 1.0,
    baseline_exposures: Sequence[float] | None = None,
    tests: int = 1,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = MIN_COUNT,
    min_baseline_windows: int = MIN_BASELINE_WINDOWS,
) -> Detection | None:
    """Churn threats (feedback flagged as intending to leave) far above their baseline rate: a volume spike."""
    return volume_spike(
        key,
        observed,
        baseline_counts,
        exposure=exposure,
        baseline_exposures=baseline_exposures,
        tests=tests,
        alpha=alpha,
        min_count=min_count,
        min_baseline_windows=min_baseline_windows,
        kind=CHURN_THREAT,
    )


def negativity_rise(
    key: str,
    negative: int,
    total: int,
    baseline_negative: int,
    baseline_total: int,
    *,
    tests: int = 1,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = MIN_COUNT,
    min_total: int = MIN_SHARE_TOTAL,
) -> Detection | None:
    """A negative share now far above the baseline's (see `compare_negativity`).

    None with fewer than `min_count` negatives or `min_total` scored feedback now (or in the baseline), or when
    not significant at `bonferroni(alpha, tests)`.
    """
    comparison = compare_negativity(negative, total, baseline_negative, baseline_total)
    if negative < min_count or total < min_total or baseline_total < min_total:
        return None
    return _detection(NEGATIVITY_RISE, key, comparison, tests, alpha, SHARE_RISE_BANDS)


def metric_drop(
    key: str,
    metric: str,
    current: Tally,
    baseline: Tally,
    *,
    tests: int = 1,
    alpha: float = DEFAULT_ALPHA,
    min_count: int = MIN_METRIC_ANSWERS,
) -> Detection | None:
    """NPS or CSAT now far below the baseline (see `compare_metric`).

    None with fewer than `min_count` answers in either period, or when not significant at
    `bonferroni(alpha, tests)`.
    """
    comparison = compare_metric(metric, current, baseline)
    if current.base(metric) < min_count or baseline.base(metric) < min_count:
        return None
    return _detection(METRIC_DROP, key, comparison, tests, alpha, SCORE_DROP_BANDS)


def dedupe_key(kind: str, key: str, window_start: datetime | str, *, scope: str = "") -> str:
    """A stable id for one alert per (kind, key, window) (and scope, e.g. a tenant): raising twice is a no-op."""
    if isinstance(window_start, datetime):
        moment = window_start if window_start.tzinfo else window_start.replace(tzinfo=UTC)
        window = moment.astimezone(UTC).isoformat()
    else:
        window = window_start
    digest = hashlib.sha256("\x1f".join((scope, kind, key, window)).encode()).hexdigest()
    return f"{kind}:{digest[:24]}"


def should_resolve(
    recent_p_values: Sequence[float | None],
    *,
    quiet_windows: int = QUIET_WINDOWS,
    resolve_alpha: float = RESOLVE_ALPHA,
) -> bool:
    """Whether an open alert can close: its test has been unremarkable for the last `quiet_windows` windows.

    The p-values are the same test's, oldest first (None: no data that window, which counts as quiet).
    Unremarkable means p ≥ `resolve_alpha`, far laxer than the raising threshold: an issue that is merely
    weaker but still present keeps its alert open instead of flapping closed and open again.
    """
    if quiet_windows < 1:
        raise ValueError("quiet_windows must be at least 1")
    if len(recent_p_values) < quiet_windows:
        return False
    return all(p is None or p >= resolve_alpha for p in recent_p_values[-quiet_windows:])
