"""Versioned CX metric definitions and the additive tally a pre-aggregated bucket stores to answer them.

Definitions (version 1):
- NPS: % promoters (9–10) − % detractors (0–6) of 0–10 answers, in −100…100.
- CSAT: % of 1–5 answers that are 4 or 5.
- CES: mean of 1–7 answers (`ces`), and % of them that are 5–7 (`ces_easy`).
- Sentiment: mean score in [−1, 1] (`sentiment`) and % of scored feedback labelled negative (`negative_share`)
  or positive (`positive_share`).
- Volume: number of feedback.

Every value is a ratio of sums, so buckets add up and any period is answered by adding its buckets' tallies.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

DEFINITION_VERSION = 1

METRICS = ("nps", "csat", "ces", "ces_easy", "sentiment", "negative_share", "positive_share", "volume")

NPS_RANGE = (0, 10)
CSAT_RANGE = (1, 5)
CES_RANGE = (1, 7)
PROMOTER_MIN = 9
DETRACTOR_MAX = 6
SATISFIED_MIN = 4
EASY_MIN = 5
# Used only when feedback has a sentiment score but no label.
SENTIMENT_NEUTRAL_BAND = 0.25

# The range each metric's value lives in, for validating targets and thresholds.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "nps": (-100.0, 100.0),
    "csat": (0.0, 100.0),
    "ces": (1.0, 7.0),
    "ces_easy": (0.0, 100.0),
    "sentiment": (-1.0, 1.0),
    "negative_share": (0.0, 100.0),
    "positive_share": (0.0, 100.0),
    "volume": (0.0, math.inf),
}


def is_promoter(nps: int) -> bool:
    """Whether a 0–10 answer is a promoter (9–10)."""
    return nps >= PROMOTER_MIN


def is_detractor(nps: int) -> bool:
    """Whether a 0–10 answer is a detractor (0–6)."""
    return nps <= DETRACTOR_MAX


def label_for_score(score: float) -> str:
    """The label a bare sentiment score implies: negative, neutral or positive."""
    if score <= -SENTIMENT_NEUTRAL_BAND:
        return "negative"
    if score >= SENTIMENT_NEUTRAL_BAND:
        return "positive"
    return "neutral"


def _check_scale(name: str, value: int | None, scale: tuple[int, int]) -> None:
    """Refuse a score outside its canonical scale."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not scale[0] <= value <= scale[1]:
        raise ValueError(f"{name} must be an integer in {scale[0]}–{scale[1]}, got {value!r}")


@dataclass(frozen=True, slots=True)
class Tally:
    """Additive sums over a set of feedback, from which every metric of this definition version is computed."""

    count: int = 0
    nps_n: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_n: int = 0
    csat_sat: int = 0
    ces_n: int = 0
    ces_sum: float = 0.0
    ces_easy: int = 0
    sent_n: int = 0
    sent_sum: float = 0.0
    negative: int = 0
    positive: int = 0

    @classmethod
    def from_feedback(
        cls,
        nps: int | None = None,
        csat: int | None = None,
        ces: int | None = None,
        sentiment_score: float | None = None,
        sentiment_label: str | None = None,
    ) -> Tally:
        """The tally of one feedback; sentiment counts only when scored (the label, or the score's band, sorts it)."""
        _check_scale("nps", nps, NPS_RANGE)
        _check_scale("csat", csat, CSAT_RANGE)
        _check_scale("ces", ces, CES_RANGE)
        label = None
        if sentiment_score is not None:
            if not math.isfinite(sentiment_score) or not -1.0 <= sentiment_score <= 1.0:
                raise ValueError(f"sentiment_score must be in [-1, 1], got {sentiment_score!r}")
            label = sentiment_label or label_for_score(sentiment_score)
        scored = sentiment_score is not None
        return cls(
            count=1,
            nps_n=int(nps is not None),
            promoters=int(nps is not None and is_promoter(nps)),
            detractors=int(nps is not None and is_detractor(nps)),
            csat_n=int(csat is not None),
            csat_sat=int(csat is not None and csat >= SATISFIED_MIN),
            ces_n=int(ces is not None),
            ces_sum=float(ces or 0),
            ces_easy=int(ces is not None and ces >= EASY_MIN),
            sent_n=int(scored),
            sent_sum=float(sentiment_score or 0.0),
            negative=int(scored and label == "negative"),
            positive=int(scored and label == "positive"),
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, float | int]) -> Tally:
        """A tally from stored sums; missing fields are zero, unknown ones are refused."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown tally fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {
            f.name: float(data.get(f.name, 0)) if f.name.endswith("_sum") else int(data.get(f.name, 0))
            for f in fields(cls)
        }
        return cls(**values)

    def as_dict(self) -> dict[str, float | int]:
        """The sums by field name, for storing in a bucket."""
        return asdict(self)

    def add(self, other: Tally) -> Tally:
        """The tally of both sets of feedback."""
        return Tally(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def minus(self, other: Tally) -> Tally:
        """The tally of this set without a subset of it (e.g. everything except one topic's feedback)."""
        return Tally(*(getattr(self, f.name) - getattr(other, f.name) for f in fields(self)))

    def base(self, metric: str) -> int:
        """How many feedback the metric is computed over (its denominator)."""
        if metric == "nps":
            return self.nps_n
        if metric == "csat":
            return self.csat_n
        if metric in ("ces", "ces_easy"):
            return self.ces_n
        if metric in ("sentiment", "negative_share", "positive_share"):
            return self.sent_n
        if metric == "volume":
            return self.count
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")

    def value(self, metric: str) -> float | None:
        """The metric's value over this tally, or None when nothing it needs was answered."""
        n = self.base(metric)
        if metric == "volume":
            return float(n)
        if n <= 0:
            return None
        if metric == "nps":
            return 100.0 * (self.promoters - self.detractors) / n
        if metric == "csat":
            return 100.0 * self.csat_sat / n
        if metric == "ces":
            return self.ces_sum / n
        if metric == "ces_easy":
            return 100.0 * self.ces_easy / n
        if metric == "sentiment":
            return self.sent_sum / n
        if metric == "negative_share":
            return 100.0 * self.negative / n
        return 100.0 * self.positive / n

    def moments(self, metric: str) -> tuple[int, float, float] | None:
        """(n, mean, variance) of the per-feedback coding whose mean is the metric, for metrics where sums suffice.

        NPS codes each answer +100 / 0 / −100; shares code each feedback 100 or 0. CES and sentiment means would
        need sums of squares the tally does not keep, so they have no moments here.
        """
        if metric not in ("nps", "csat", "ces_easy", "negative_share", "positive_share"):
            raise ValueError(f"metric {metric!r} has no moments from a tally")
        n = self.base(metric)
        mean = self.value(metric)
        if n <= 0 or mean is None:
            return None
        # Codes are ±100 or 0 for NPS and 100 or 0 for shares, so the mean square follows from the counts.
        square_mean = 100.0**2 * (self.promoters + self.detractors) / n if metric == "nps" else 100.0 * mean
        population = max(0.0, square_mean - mean * mean)
        variance = population * n / (n - 1) if n > 1 else 0.0
        return n, mean, variance


def total(tallies: Iterable[Tally]) -> Tally:
    """The sum of many tallies (an empty tally for none)."""
    result = Tally()
    for tally in tallies:
        result = result.add(tally)
    return result
