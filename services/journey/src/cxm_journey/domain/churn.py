"""Transparent churn risk: a few named signals, each with a weight, combined so that anyone can follow the score.

Signals (only steps at or before `now` count; default weights in `SIGNALS`):
- recent_detractor: an NPS answer of 0–6 or a CSAT answer of 1–2 in the last 30 days;
- falling_sentiment: the last sentiment scores (up to 5, at least 3) trend down — their least-squares slope per
  answer is −0.1 or steeper and the last is below the first;
- repeated_contacts: 3 or more support contacts in the last 14 days;
- churn_threat: feedback with the `churn_threat` intent in the last 30 days;
- abandonment: the customer's last visit is in purchase or onboarding and nothing happened for 14 days since;
- inactivity: nothing happened for 30 days, after at least 3 steps (a customer who was active, not a passer-by).

score = 1 − Π(1 − weight) over the active signals (a noisy-or: each signal alone gives its weight, several add up
without passing 1); level is high from 0.5, medium from 0.25, low below. A customer whose last visit is in a
terminal stage has already churned: score 1.0, level high, and a `churned` reason first (the other active signals
follow, as the likely why). Reasons are sorted by weight, largest first. With a customer `value`, `value_at_risk` is
score × value.

`backtest` replays the model at a past `cutoff`: the risk from steps up to the cutoff against whether the customer
entered a terminal stage in (cutoff, cutoff + horizon]. Customers with no step by the cutoff, or already churned by
then, are left out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cxm_journey.domain.paths import Step, order_steps, visits
from cxm_journey.domain.stages import StageMap, is_support_contact

SIGNALS: dict[str, float] = {
    "churned": 1.0,
    "churn_threat": 0.5,
    "inactivity": 0.4,
    "recent_detractor": 0.35,
    "repeated_contacts": 0.3,
    "abandonment": 0.3,
    "falling_sentiment": 0.25,
}
LEVELS = ("low", "medium", "high")
HIGH_FROM = 0.5
MEDIUM_FROM = 0.25

DETRACTOR_WINDOW = timedelta(days=30)
NPS_DETRACTOR_MAX = 6
CSAT_DETRACTOR_MAX = 2
SENTIMENT_LAST = 5
SENTIMENT_MIN = 3
SENTIMENT_SLOPE = -0.1
CONTACT_WINDOW = timedelta(days=14)
CONTACTS_MIN = 3
THREAT_WINDOW = timedelta(days=30)
THREAT_INTENT = "churn_threat"
ABANDON_STAGES = ("purchase", "onboarding")
ABANDON_AFTER = timedelta(days=14)
INACTIVE_AFTER = timedelta(days=30)
ACTIVE_MIN_STEPS = 3


@dataclass(frozen=True, slots=True)
class Reason:
    """One active signal, its weight and what was seen."""

    signal: str
    weight: float
    detail: str


@dataclass(frozen=True, slots=True)
class Risk:
    """A customer's churn risk: the score (0…1), its level, the reasons, and the value it puts at risk."""

    score: float
    level: str
    reasons: tuple[Reason, ...]
    value_at_risk: float | None = None


@dataclass(frozen=True, slots=True)
class Backtest:
    """How well the risk at a cutoff foretold churn within the horizon after it."""

    cutoff: datetime
    horizon_days: int
    customers: int
    churned: int
    flagged: int
    true_positives: int
    precision: float | None
    recall: float | None


def level_of(score: float) -> str:
    """low, medium or high for a score."""
    if score >= HIGH_FROM:
        return "high"
    if score >= MEDIUM_FROM:
        return "medium"
    return "low"


def noisy_or(weights: Sequence[float]) -> float:
    """The chance that at least one of independent causes with these probabilities acts."""
    return 1.0 - math.prod(1.0 - w for w in weights)


def _day(at: datetime) -> str:
    """A time as its date, for reason details."""
    return at.date().isoformat()


def sentiment_slope(scores: Sequence[float]) -> float:
    """The least-squares slope of scores against their position (0 for fewer than two)."""
    n = len(scores)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(scores) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(scores))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def signals(steps: Sequence[Step], m: StageMap, *, now: datetime) -> dict[str, str]:
    """The active signals with what was seen, for steps already ordered and filtered to `now`."""
    found: dict[str, str] = {}
    vs = visits(steps)
    if vs and vs[-1].stage in m.terminal_stages:
        found["churned"] = f"entered {vs[-1].stage} on {_day(vs[-1].entered_at)}"
    detractors = [
        s
        for s in steps
        if s.at >= now - DETRACTOR_WINDOW
        and (
            (s.nps is not None and s.nps <= NPS_DETRACTOR_MAX) or (s.csat is not None and s.csat <= CSAT_DETRACTOR_MAX)
        )
    ]
    if detractors:
        d = detractors[-1]
        answer = f"NPS {d.nps}" if d.nps is not None and d.nps <= NPS_DETRACTOR_MAX else f"CSAT {d.csat}"
        found["recent_detractor"] = f"{answer} on {_day(d.at)}" + (
            f" ({len(detractors)} detractor answers in 30 days)" if len(detractors) > 1 else ""
        )
    scores = [s.sentiment_score for s in steps if s.sentiment_score is not None][-SENTIMENT_LAST:]
    if len(scores) >= SENTIMENT_MIN and scores[-1] < scores[0] and sentiment_slope(scores) <= SENTIMENT_SLOPE:
        found["falling_sentiment"] = f"sentiment {scores[0]:+.2f} → {scores[-1]:+.2f} over the last {len(scores)}"
    contacts = [s for s in steps if s.at >= now - CONTACT_WINDOW and is_support_contact(m, s.stage, s.kind, s.name)]
    if len(contacts) >= CONTACTS_MIN:
        found["repeated_contacts"] = f"{len(contacts)} support contacts in 14 days"
    threats = [s for s in steps if s.at >= now - THREAT_WINDOW and s.intent == THREAT_INTENT]
    if threats:
        found["churn_threat"] = f"churn threat in feedback on {_day(threats[-1].at)}"
    if vs and vs[-1].stage in ABANDON_STAGES and now - vs[-1].last_at > ABANDON_AFTER:
        found["abandonment"] = f"left {vs[-1].stage} unfinished since {_day(vs[-1].last_at)}"
    if len(steps) >= ACTIVE_MIN_STEPS and now - steps[-1].at > INACTIVE_AFTER:
        found["inactivity"] = f"no activity since {_day(steps[-1].at)}"
    return found


def churn_risk(
    steps: Sequence[Step],
    m: StageMap,
    *,
    now: datetime,
    value: float | None = None,
    weights: Mapping[str, float] | None = None,
) -> Risk:
    """A customer's churn risk as of `now` (see the module docstring); `weights` override entries of `SIGNALS`."""
    w = {**SIGNALS, **(weights or {})}
    seen = order_steps(s for s in steps if s.at <= now)
    found = signals(seen, m, now=now)
    reasons = sorted(
        (Reason(k, w[k], d) for k, d in found.items()), key=lambda r: (r.signal != "churned", -r.weight, r.signal)
    )
    score = 1.0 if "churned" in found else noisy_or([r.weight for r in reasons])
    return Risk(
        score=score,
        level=level_of(score),
        reasons=tuple(reasons),
        value_at_risk=None if value is None else score * value,
    )


def backtest(
    journeys: Mapping[str, Sequence[Step]],
    m: StageMap,
    *,
    cutoff: datetime,
    horizon: timedelta,
    threshold: str = "high",
) -> Backtest:
    """Precision and recall of flagging customers at `threshold` or above at `cutoff` (see the module docstring)."""
    if threshold not in LEVELS:
        raise ValueError(f"threshold must be one of {', '.join(LEVELS)}, got {threshold!r}")
    if horizon <= timedelta(0):
        raise ValueError("the horizon must be positive")
    rank = LEVELS.index(threshold)
    customers = churned = flagged = hits = 0
    end = cutoff + horizon
    for cid in sorted(journeys):
        steps = journeys[cid]
        before = [s for s in steps if s.at <= cutoff]
        if not before:
            continue
        vs = visits(before)
        if vs and vs[-1].stage in m.terminal_stages:
            continue
        customers += 1
        did_churn = any(s.stage in m.terminal_stages and cutoff < s.at <= end for s in steps)
        risk = churn_risk(before, m, now=cutoff)
        is_flagged = LEVELS.index(risk.level) >= rank
        churned += did_churn
        flagged += is_flagged
        hits += did_churn and is_flagged
    return Backtest(
        cutoff=cutoff,
        horizon_days=horizon.days,
        customers=customers,
        churned=churned,
        flagged=flagged,
        true_positives=hits,
        precision=hits / flagged if flagged else None,
        recall=hits / churned if churned else None,
    )
