"""Key-driver analysis: which topics move NPS or CSAT, by how much, how surely, and what changed between periods.

`key_drivers` regresses the outcome (NPS 0–10 or CSAT 1–5 answers) on 0/1 topic indicators:
- importance: Johnson's relative weights, each topic's share of the model's R² (they sum to R²), which stays
  meaningful when topics co-occur and plain coefficients would split credit arbitrarily;
- effect: the topic's OLS coefficient in outcome points (with an intercept and all other topics held fixed),
  direction its sign, a bootstrap percentile confidence interval and a normal-approximation p-value from the
  bootstrap standard error;
- impact_points: the overall score (NPS −100…100, CSAT %) minus the score without that topic's feedback.

`what_changed` decomposes the change of a score between two periods per topic with a shift-share split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from cxm_insight.domain.metrics import CSAT_RANGE, NPS_RANGE, Tally
from cxm_insight.domain.stats import normal_two_sided

FloatArray = npt.NDArray[np.float64]

SCALES: dict[str, tuple[int, int]] = {"nps": NPS_RANGE, "csat": CSAT_RANGE}
MIN_RESPONSES = 30
MIN_TOPIC_COUNT = 10
DEFAULT_RESAMPLES = 500
_RESAMPLE_BATCH = 100
_ROW_BLOCK = 2048
# Eigenvalues of the topic correlation matrix below this are treated as zero (perfectly collinear topics).
_EIGEN_FLOOR = 1e-10


@dataclass(frozen=True, slots=True)
class Driver:
    """One topic's role in the outcome."""

    topic: str
    count: int
    importance: float
    direction: int
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    impact_points: float


@dataclass(frozen=True, slots=True)
class DriverAnalysis:
    """The drivers of one outcome, most important first, or the reason there are none."""

    scale: str
    n: int
    score: float | None
    r_squared: float
    drivers: list[Driver]
    skipped: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    resamples: int = 0
    confidence: float = 0.95


def score_of(outcome: FloatArray, scale: str) -> float | None:
    """The overall score of raw answers: NPS in −100…100 or CSAT in %, None for no answers."""
    if outcome.size == 0:
        return None
    if scale == "nps":
        return float(100.0 * (np.mean(outcome >= 9) - np.mean(outcome <= 6)))
    return float(100.0 * np.mean(outcome >= 4))


def relative_weights(x: FloatArray, y: FloatArray) -> FloatArray:
    """Johnson's relative weights of the columns of x for y: shares of R² that sum to R².

    The predictors are replaced by their closest orthonormal counterparts Z (via the symmetric square root of
    their correlation matrix); y is regressed on Z and each Z's explained variance is given back to the original
    predictors in proportion to their squared loadings on it. Collinear directions get no weight.
    """
    xs = _standardise(x)
    ys = _standardise(y[:, None])[:, 0]
    n = x.shape[0]
    rxx = np.atleast_2d(xs.T @ xs / n)
    rxy = xs.T @ ys / n
    eigenvalues, eigenvectors = np.linalg.eigh(rxx)
    keep = eigenvalues > _EIGEN_FLOOR
    roots = np.where(keep, np.sqrt(np.clip(eigenvalues, 0.0, None)), 0.0)
    inverse_roots = np.where(keep, 1.0 / np.where(keep, roots, 1.0), 0.0)
    loadings = (eigenvectors * roots) @ eigenvectors.T
    beta = (eigenvectors * inverse_roots) @ eigenvectors.T @ rxy
    weights: FloatArray = (loadings**2) @ (beta**2)
    return weights


def _standardise(columns: FloatArray) -> FloatArray:
    """Columns centred and scaled to unit (population) variance; constant columns become zeros."""
    centred = columns - columns.mean(axis=0)
    scale = centred.std(axis=0)
    result: FloatArray = centred / np.where(scale > 0, scale, 1.0)
    return result


def ols(design: FloatArray, y: FloatArray, weights: FloatArray | None = None) -> FloatArray:
    """Least-squares coefficients of y on the design matrix (optionally with integer case weights)."""
    if weights is None:
        solution = np.linalg.lstsq(design, y, rcond=None)[0]
    else:
        weighted = design * weights[:, None]
        solution = np.linalg.lstsq(design.T @ weighted, weighted.T @ y, rcond=None)[0]
    return np.asarray(solution, dtype=np.float64)


def key_drivers(
    outcome: Sequence[float] | FloatArray,
    topics: Sequence[Sequence[float]] | npt.NDArray[np.generic],
    topic_names: Sequence[str],
    *,
    scale: str = "nps",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
    min_responses: int = MIN_RESPONSES,
    min_topic_count: int = MIN_TOPIC_COUNT,
) -> DriverAnalysis:
    """The key drivers of an outcome among topics (rows: feedback, columns: topics present 0/1).

    Answers that are missing (NaN) are dropped. Topics that are never or always present, or present (or absent)
    fewer than `min_topic_count` times, are skipped with a reason; with fewer than `min_responses` answers, an
    outcome that does not vary, or no topic left, the analysis has no drivers and says why.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    if resamples < 2:
        raise ValueError("resamples must be at least 2")
    y_all = np.asarray(outcome, dtype=np.float64).reshape(-1)
    x_all = np.asarray(topics, dtype=np.float64)
    if x_all.size == 0:
        x_all = x_all.reshape(y_all.size, len(topic_names))
    if x_all.ndim != 2 or x_all.shape != (y_all.size, len(topic_names)):
        raise ValueError(f"topics must be {y_all.size} × {len(topic_names)}, got {x_all.shape}")
    if len(set(topic_names)) != len(topic_names):
        raise ValueError("topic names must be unique")
    answered = np.isfinite(y_all)
    y, x = y_all[answered], x_all[answered]
    low, high = SCALES[scale]
    if np.any((y < low) | (y > high)):
        raise ValueError(f"{scale} answers must lie in {low}–{high}")
    if not np.all((x == 0) | (x == 1)):
        raise ValueError("topics must be 0/1 indicators")

    n = int(y.size)
    score = score_of(y, scale)

    def empty(reason: str, skipped: dict[str, str] | None = None) -> DriverAnalysis:
        """An analysis with no drivers, saying why."""
        return DriverAnalysis(scale, n, score, 0.0, [], skipped or {}, reason, 0, confidence)

    if n < min_responses:
        return empty(f"too few answers: {n} < {min_responses}")
    if float(np.ptp(y)) == 0.0:
        return empty("the outcome does not vary")

    counts = x.sum(axis=0).astype(int)
    skipped: dict[str, str] = {}
    kept: list[int] = []
    for j, name in enumerate(topic_names):
        count = int(counts[j])
        if count == 0:
            skipped[name] = "never present"
        elif count == n:
            skipped[name] = "present in every answer"
        elif count < min_topic_count:
            skipped[name] = f"too few mentions: {count} < {min_topic_count}"
        elif n - count < min_topic_count:
            skipped[name] = f"absent from too few answers: {n - count} < {min_topic_count}"
        else:
            kept.append(j)
    if not kept:
        return empty("no topic with enough mentions to analyse", skipped)

    xk = x[:, kept]
    design = np.column_stack([np.ones(n), xk])
    coefficients = ols(design, y)
    fitted = design @ coefficients
    r_squared = float(max(0.0, 1.0 - np.sum((y - fitted) ** 2) / np.sum((y - y.mean()) ** 2)))
    weights = relative_weights(xk, y)

    samples = _bootstrap(design, y, resamples, seed)
    tail = (1.0 - confidence) / 2.0
    drivers = []
    for position, j in enumerate(kept):
        effect = float(coefficients[position + 1])
        draws = samples[:, position + 1]
        ci_low, ci_high = (float(v) for v in np.quantile(draws, [tail, 1.0 - tail]))
        spread = float(np.std(draws, ddof=1)) if draws.size > 1 else 0.0
        # A bootstrap that never varies means a deterministic fit: the effect is certain (or certainly zero).
        p_value = normal_two_sided(effect / spread) if spread > 0 else float(effect == 0)
        present = x[:, j] == 1
        without = score_of(y[~present], scale)
        drivers.append(
            Driver(
                topic=topic_names[j],
                count=int(counts[j]),
                importance=float(weights[position]),
                direction=1 if effect >= 0 else -1,
                effect=effect,
                ci_low=ci_low,
                ci_high=ci_high,
                p_value=p_value,
                significant=bool(ci_low > 0 or ci_high < 0),
                impact_points=float((score or 0.0) - (without or 0.0)),
            )
        )
    drivers.sort(key=lambda d: (-d.importance, d.topic))
    return DriverAnalysis(scale, n, score, r_squared, drivers, skipped, None, resamples, confidence)


def _bootstrap(design: FloatArray, y: FloatArray, resamples: int, seed: int) -> FloatArray:
    """OLS coefficients over case resamples (resamples × columns), all fitted together by matrix products.

    Answers sharing an outcome and a topic pattern are interchangeable, so a resample is a vector of
    multiplicities over the distinct (outcome, pattern) rows, and every resample's normal equations come from
    one product of those multiplicities with the rows' pairwise products. Everything summed is a small integer,
    so float32 products are exact and the result does not depend on summation order.
    """
    rng = np.random.default_rng(seed)
    n = y.size
    distinct, group = np.unique(np.column_stack([y, design]), axis=0, return_inverse=True)
    group = group.reshape(-1)
    rows, outcomes = distinct[:, 1:], distinct[:, 0]
    m, width = rows.shape
    upper = np.triu_indices(width)
    samples = np.empty((resamples, width))
    for first in range(0, resamples, _RESAMPLE_BATCH):
        batch = min(_RESAMPLE_BATCH, resamples - first)
        weights = np.empty((batch, m), dtype=np.float32)
        for b in range(batch):
            weights[b] = np.bincount(group[rng.integers(0, n, n)], minlength=m)
        gram_upper = np.zeros((batch, upper[0].size))
        moments = np.zeros((batch, width))
        for start in range(0, m, _ROW_BLOCK):
            block = rows[start : start + _ROW_BLOCK]
            pairs = (block[:, upper[0]] * block[:, upper[1]]).astype(np.float32)
            targets = (block * outcomes[start : start + _ROW_BLOCK, None]).astype(np.float32)
            gram_upper += weights[:, start : start + _ROW_BLOCK] @ pairs
            moments += weights[:, start : start + _ROW_BLOCK] @ targets
        gram = np.zeros((batch, width, width))
        gram[:, upper[0], upper[1]] = gram_upper
        gram[:, upper[1], upper[0]] = gram_upper
        # The pseudo-inverse gives the same minimum-norm fit as lstsq when a resample leaves a topic out.
        samples[first : first + batch] = np.einsum("bij,bj->bi", np.linalg.pinv(gram, hermitian=True), moments)
    return samples


@dataclass(frozen=True, slots=True)
class Breakdown:
    """A period's tally overall and per topic (topics may overlap: one feedback can count for several)."""

    total: Tally
    by_topic: Mapping[str, Tally]


@dataclass(frozen=True, slots=True)
class TopicChange:
    """How one topic moved between two periods and how much of the score's change it accounts for."""

    topic: str
    count_before: int
    count_after: int
    share_before: float
    share_after: float
    share_change: float
    score_before: float | None
    score_after: float | None
    score_change: float | None
    mix_effect: float
    rate_effect: float
    contribution: float


@dataclass(frozen=True, slots=True)
class ChangeAnalysis:
    """The change of a score between two periods, with each topic's part in it, largest first."""

    metric: str
    score_before: float | None
    score_after: float | None
    change: float | None
    topics: list[TopicChange]


def breakdown(
    outcome: Sequence[float] | FloatArray,
    topics: Sequence[Sequence[float]] | npt.NDArray[np.generic],
    topic_names: Sequence[str],
    *,
    scale: str = "nps",
) -> Breakdown:
    """The breakdown of raw answers and their 0/1 topic matrix (missing answers are dropped)."""
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {scale!r}")
    y = np.asarray(outcome, dtype=np.float64).reshape(-1)
    x = np.asarray(topics, dtype=np.float64).reshape(y.size, len(topic_names))
    answered = np.isfinite(y)
    y, x = y[answered], x[answered]
    return Breakdown(
        total=_tally_of(y, scale),
        by_topic={name: _tally_of(y[x[:, j] == 1], scale) for j, name in enumerate(topic_names)},
    )


def _tally_of(y: FloatArray, scale: str) -> Tally:
    """The tally of raw answers on one scale."""
    n = int(y.size)
    if scale == "nps":
        return Tally(count=n, nps_n=n, promoters=int(np.sum(y >= 9)), detractors=int(np.sum(y <= 6)))
    return Tally(count=n, csat_n=n, csat_sat=int(np.sum(y >= 4)))


def what_changed(before: Breakdown, after: Breakdown, *, metric: str = "nps") -> ChangeAnalysis:
    """Each topic's contribution to the change of a score: a two-group shift-share split, topic vs the rest.

    With s the topic's share of answers and r its score, S = s·r_topic + (1−s)·r_rest in each period, and with
    midpoint weights (bars) the change splits exactly as
    ΔS = Δs·(r̄_topic − r̄_rest)         [mix: the topic got more or less frequent]
       + s̄·(Δr_topic − Δr_rest)        [rate: the topic's own score moved, beyond what everything moved]
       + Δr_rest                        [everything else].
    A topic's contribution is mix + rate. The rate is measured against the rest because topics overlap: when
    one topic grows and hurts, every topic it co-occurs with sees its score fall too, and only the excess over
    the rest's fall is the topic's own. When a rate is undefined in one period (no answers), the other period's
    rate stands in for it, so a topic that appears from nowhere is credited by its mix alone.
    """
    overall_before = before.total.value(metric)
    overall_after = after.total.value(metric)
    change = None if overall_before is None or overall_after is None else overall_after - overall_before
    base_before = before.total.base(metric)
    base_after = after.total.base(metric)
    changes = []
    for topic in sorted(set(before.by_topic) | set(after.by_topic)):
        t_before = before.by_topic.get(topic, Tally())
        t_after = after.by_topic.get(topic, Tally())
        s0 = t_before.base(metric) / base_before if base_before else 0.0
        s1 = t_after.base(metric) / base_after if base_after else 0.0
        r0, r1 = t_before.value(metric), t_after.value(metric)
        q0, q1 = before.total.minus(t_before).value(metric), after.total.minus(t_after).value(metric)
        rt0, rt1 = _filled(r0, r1)
        rq0, rq1 = _filled(q0, q1)
        mix = (s1 - s0) * ((rt0 + rt1) / 2.0 - (rq0 + rq1) / 2.0)
        rate = (s0 + s1) / 2.0 * ((rt1 - rt0) - (rq1 - rq0))
        changes.append(
            TopicChange(
                topic=topic,
                count_before=t_before.base(metric),
                count_after=t_after.base(metric),
                share_before=100.0 * s0,
                share_after=100.0 * s1,
                share_change=100.0 * (s1 - s0),
                score_before=r0,
                score_after=r1,
                score_change=None if r0 is None or r1 is None else r1 - r0,
                mix_effect=mix,
                rate_effect=rate,
                contribution=mix + rate,
            )
        )
    changes.sort(key=lambda c: (-abs(c.contribution), c.topic))
    return ChangeAnalysis(metric, overall_before, overall_after, change, changes)


def _filled(first: float | None, second: float | None) -> tuple[float, float]:
    """Two periods' rates with a missing one replaced by the other (both missing: zeros, which cancel)."""
    if first is None and second is None:
        return 0.0, 0.0
    if first is None:
        first = second
    if second is None:
        second = first
    assert first is not None and second is not None
    return first, second
