"""Friction: per-stage experience, repeat contacts and abandonment, and the stages and moves that hurt most.

`stage_stats` looks at the visits entered in [since, until) (steps after `now` are ignored):
- customers, entries (visits) and exits (visits left for another stage);
- feedback given during a visit counts for its stage: NPS (% promoters 9–10 − % detractors 0–6, −100…100), CSAT
  (% of 1–5 answers that are 4–5), CES (mean 1–7 answer), sentiment (mean score −1…1); `negative` counts feedback
  labelled negative (or, without a label, scored −0.25 or lower) out of `sentiment_n` with any sentiment;
- repeat_contact_rate: the share of visits followed by repeated support contacts — the customer's support contacts
  in this visit's run of support stages (for a support stage, from this visit on; otherwise in the support visits
  that directly follow it) include two at most `contact_window` apart;
- abandoned: the visit is the customer's last, its stage neither terminal nor steady, and its last step more than
  `abandon_after` before `now` (the last step rather than the entry, so a long but lively visit is not abandoned);
  abandonment_rate = abandoned / entries;
- value_at_stake: the summed `values` of customers with a visit there that had a detractor or negative feedback or
  was abandoned (None without `values`).

`friction_points` ranks stages (and, if given, transitions) by impact, an estimate of how many visits went badly
beyond what is usual:

    impact = traffic × max(0, detractor_lift, negative_lift)
           + REPEAT_WEIGHT × traffic × repeat_contact_rate
           + ABANDON_WEIGHT × abandoned

where a lift is the stage's share minus the all-stage baseline share, shrunk toward 0 for few answers:
lift = n / (n + PRIOR_ANSWERS) × (hits / n − baseline), i.e. the share's empirical-Bayes estimate with
PRIOR_ANSWERS answers' worth of prior at the baseline. traffic × lift is then the excess of detractors (or negative
feedback) the stage's visits bring, in visits. A transition's impact is its count × the larger lift of the feedback
given after taking it (in the visit it leads to); repeat contacts and abandonment belong to stages.
`StageStats.friction_score` is the stage's impact divided by the largest stage impact (0…1; 0 when none has any).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cxm_journey.domain.contacts import repeated_flags
from cxm_journey.domain.paths import Step, Visit, transitions, visits
from cxm_journey.domain.stages import StageMap, is_support_contact

PROMOTER_MIN = 9
DETRACTOR_MAX = 6
SATISFIED_MIN = 4
# Used only when feedback has a sentiment score but no label (the same band insight labels scores with).
NEGATIVE_SCORE = -0.25
PRIOR_ANSWERS = 20.0
REPEAT_WEIGHT = 0.5
ABANDON_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class StageStats:
    """What happened in one stage over a period (see the module docstring)."""

    stage: str
    customers: int
    entries: int
    exits: int
    nps: float | None
    csat: float | None
    ces: float | None
    sentiment: float | None
    feedback: int
    detractors: int
    nps_answers: int
    negative: int
    sentiment_n: int
    repeat_contact_rate: float | None
    abandoned: int
    abandonment_rate: float | None
    value_at_stake: float | None
    friction_score: float


@dataclass(frozen=True, slots=True)
class TransitionStats:
    """A move between two stages over a period: how often, by whom, and the feedback given right after it."""

    from_stage: str
    to_stage: str
    count: int
    customers: int
    detractors: int
    nps_answers: int
    negative: int
    sentiment_n: int

    @property
    def key(self) -> str:
        """The transition as `from→to`."""
        return f"{self.from_stage}→{self.to_stage}"


@dataclass(frozen=True, slots=True)
class FrictionPoint:
    """A stage or transition where customers struggle, with its impact and the numbers behind it."""

    kind: str
    key: str
    impact: float
    traffic: int
    detractor_lift: float | None
    negative_lift: float | None
    repeat_contact_rate: float | None
    abandonment_rate: float | None
    value_at_stake: float | None
    evidence: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Weights:
    """The knobs of the impact formula."""

    prior_answers: float = PRIOR_ANSWERS
    repeat: float = REPEAT_WEIGHT
    abandon: float = ABANDON_WEIGHT


@dataclass(slots=True)
class _Feedback:
    """Feedback sums for a stage or a transition."""

    count: int = 0
    nps_n: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_n: int = 0
    satisfied: int = 0
    ces_n: int = 0
    ces_sum: float = 0.0
    score_n: int = 0
    score_sum: float = 0.0
    sentiment_n: int = 0
    negative: int = 0

    def add(self, step: Step) -> bool:
        """Count one feedback; True when it is a detractor answer or negative."""
        self.count += 1
        bad = False
        if step.nps is not None:
            self.nps_n += 1
            self.promoters += step.nps >= PROMOTER_MIN
            if step.nps <= DETRACTOR_MAX:
                self.detractors += 1
                bad = True
        if step.csat is not None:
            self.csat_n += 1
            self.satisfied += step.csat >= SATISFIED_MIN
        if step.ces is not None:
            self.ces_n += 1
            self.ces_sum += step.ces
        if step.sentiment_score is not None:
            self.score_n += 1
            self.score_sum += step.sentiment_score
        negative = is_negative(step)
        if negative is not None:
            self.sentiment_n += 1
            if negative:
                self.negative += 1
                bad = True
        return bad


@dataclass(slots=True)
class _Stage:
    """Running sums for one stage."""

    customers: set[str] = field(default_factory=set)
    entries: int = 0
    exits: int = 0
    repeat_visits: int = 0
    abandoned: int = 0
    at_stake: set[str] = field(default_factory=set)
    feedback: _Feedback = field(default_factory=_Feedback)


def is_negative(step: Step) -> bool | None:
    """Whether a step's sentiment is negative: its label if it has one, else its score; None without either."""
    if step.sentiment_label is not None:
        return step.sentiment_label == "negative"
    if step.sentiment_score is not None:
        return step.sentiment_score <= NEGATIVE_SCORE
    return None


def is_abandoned(vs: Sequence[Visit], k: int, m: StageMap, *, now: datetime, abandon_after: timedelta) -> bool:
    """Whether visit k is abandoned: the last, not terminal or steady, and idle for longer than `abandon_after`."""
    v = vs[k]
    return (
        k == len(vs) - 1
        and v.stage not in m.terminal_stages
        and v.stage not in m.steady_stages
        and now - v.last_at > abandon_after
    )


def has_repeat_contact(vs: Sequence[Visit], k: int, m: StageMap, window: timedelta) -> bool:
    """Whether visit k is followed by repeated support contacts (see the module docstring)."""
    j = k if vs[k].stage in m.support_stages else k + 1
    contacts: list[Step] = []
    while j < len(vs) and vs[j].stage in m.support_stages:
        contacts.extend(s for s in vs[j].steps if is_support_contact(m, s.stage, s.kind, s.name))
        j += 1
    return any(repeated_flags(contacts, window))


def stage_stats(
    journeys: Mapping[str, Sequence[Step]],
    m: StageMap,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    abandon_after: timedelta,
    contact_window: timedelta,
    values: Mapping[str, float] | None = None,
) -> list[StageStats]:
    """Every stage's statistics over visits entered in [since, until), in the map's stage order."""
    acc = {s: _Stage() for s in m.stages}
    for cid in sorted(journeys):
        vs = visits(s for s in journeys[cid] if s.at <= now)
        for k, v in enumerate(vs):
            if not since <= v.entered_at < until:
                continue
            a = acc.setdefault(v.stage, _Stage())
            a.customers.add(cid)
            a.entries += 1
            a.exits += v.next_stage is not None
            bad = False
            for s in v.steps:
                if s.kind == "feedback":
                    bad = a.feedback.add(s) or bad
            a.repeat_visits += has_repeat_contact(vs, k, m, contact_window)
            if is_abandoned(vs, k, m, now=now, abandon_after=abandon_after):
                a.abandoned += 1
                bad = True
            if bad:
                a.at_stake.add(cid)
    stats = [_stage_stats(stage, a, values) for stage, a in acc.items()]
    return with_friction_scores(stats)


def _ratio(num: float, den: int, scale: float = 1.0) -> float | None:
    """num / den × scale, None when den is 0."""
    return scale * num / den if den else None


def _stage_stats(stage: str, a: _Stage, values: Mapping[str, float] | None) -> StageStats:
    """The finished statistics of one stage (friction score still 0)."""
    f = a.feedback
    return StageStats(
        stage=stage,
        customers=len(a.customers),
        entries=a.entries,
        exits=a.exits,
        nps=_ratio(f.promoters - f.detractors, f.nps_n, 100.0),
        csat=_ratio(f.satisfied, f.csat_n, 100.0),
        ces=_ratio(f.ces_sum, f.ces_n),
        sentiment=_ratio(f.score_sum, f.score_n),
        feedback=f.count,
        detractors=f.detractors,
        nps_answers=f.nps_n,
        negative=f.negative,
        sentiment_n=f.sentiment_n,
        repeat_contact_rate=_ratio(a.repeat_visits, a.entries),
        abandoned=a.abandoned,
        abandonment_rate=_ratio(a.abandoned, a.entries),
        value_at_stake=None if values is None else sum(values.get(c, 0.0) for c in sorted(a.at_stake)),
        friction_score=0.0,
    )


def with_friction_scores(stats: Sequence[StageStats], weights: Weights | None = None) -> list[StageStats]:
    """The stats with each stage's impact scaled to 0…1 by the largest one."""
    w = weights or Weights()
    base = baselines(stats)
    impacts = [_stage_terms(s, base, w)["impact"] for s in stats]
    top = max(impacts, default=0.0)
    return [
        dataclasses.replace(s, friction_score=i / top if top > 0 else 0.0) for s, i in zip(stats, impacts, strict=True)
    ]


def transition_stats(
    journeys: Mapping[str, Sequence[Step]], *, since: datetime, until: datetime, now: datetime
) -> dict[tuple[str, str], TransitionStats]:
    """Each move between stages made in [since, until), with the feedback given in the visit it led to."""
    counts: dict[tuple[str, str], int] = {}
    customers: dict[tuple[str, str], set[str]] = {}
    feedback: dict[tuple[str, str], _Feedback] = {}
    for cid in sorted(journeys):
        vs = visits(s for s in journeys[cid] if s.at <= now)
        for k, (a, b, at) in enumerate(transitions(vs)):
            if not since <= at < until:
                continue
            key = (a, b)
            counts[key] = counts.get(key, 0) + 1
            customers.setdefault(key, set()).add(cid)
            f = feedback.setdefault(key, _Feedback())
            for s in vs[k + 1].steps:
                if s.kind == "feedback":
                    f.add(s)
    return {
        key: TransitionStats(
            from_stage=key[0],
            to_stage=key[1],
            count=n,
            customers=len(customers[key]),
            detractors=feedback[key].detractors,
            nps_answers=feedback[key].nps_n,
            negative=feedback[key].negative,
            sentiment_n=feedback[key].sentiment_n,
        )
        for key, n in sorted(counts.items())
    }


def baselines(stats: Sequence[StageStats]) -> tuple[float | None, float | None]:
    """The all-stage detractor share and negative share (None without answers)."""
    answers = sum(s.nps_answers for s in stats)
    scored = sum(s.sentiment_n for s in stats)
    return (
        _ratio(sum(s.detractors for s in stats), answers),
        _ratio(sum(s.negative for s in stats), scored),
    )


def shrunk_lift(hits: int, n: int, baseline: float | None, prior_answers: float) -> float | None:
    """hits / n − baseline, shrunk toward 0 by n / (n + prior_answers); None without answers or baseline."""
    if n == 0 or baseline is None:
        return None
    return n / (n + prior_answers) * (hits / n - baseline)


def _experience(traffic: int, detractor_lift: float | None, negative_lift: float | None) -> float:
    """traffic × the larger positive lift."""
    return traffic * max(0.0, detractor_lift or 0.0, negative_lift or 0.0)


def _stage_terms(s: StageStats, base: tuple[float | None, float | None], w: Weights) -> dict[str, Any]:
    """A stage's lifts and the terms of its impact."""
    dl = shrunk_lift(s.detractors, s.nps_answers, base[0], w.prior_answers)
    nl = shrunk_lift(s.negative, s.sentiment_n, base[1], w.prior_answers)
    experience = _experience(s.entries, dl, nl)
    repeat = w.repeat * s.entries * (s.repeat_contact_rate or 0.0)
    abandon = w.abandon * s.abandoned
    return {
        "detractor_lift": dl,
        "negative_lift": nl,
        "experience_term": experience,
        "repeat_term": repeat,
        "abandonment_term": abandon,
        "impact": experience + repeat + abandon,
    }


def friction_points(
    stats: Sequence[StageStats],
    transitions: Mapping[tuple[str, str], TransitionStats] | None = None,
    *,
    weights: Weights | None = None,
    min_traffic: int = 1,
) -> list[FrictionPoint]:
    """Stages and transitions with a positive impact, largest first (see the module docstring for the formula).

    Baselines come from the stages; places with less than `min_traffic` visits (or moves) are left out.
    """
    w = weights or Weights()
    base = baselines(stats)
    common = {
        "baseline_detractor_share": base[0],
        "baseline_negative_share": base[1],
        "prior_answers": w.prior_answers,
    }
    points: list[FrictionPoint] = []
    for s in stats:
        if s.entries < min_traffic:
            continue
        t = _stage_terms(s, base, w)
        if t["impact"] <= 0:
            continue
        evidence = {
            **common,
            "entries": s.entries,
            "customers": s.customers,
            "detractors": s.detractors,
            "nps_answers": s.nps_answers,
            "detractor_share": _ratio(s.detractors, s.nps_answers),
            "negative": s.negative,
            "sentiment_n": s.sentiment_n,
            "negative_share": _ratio(s.negative, s.sentiment_n),
            "abandoned": s.abandoned,
            "repeat_weight": w.repeat,
            "abandon_weight": w.abandon,
            **{k: t[k] for k in ("experience_term", "repeat_term", "abandonment_term")},
        }
        points.append(
            FrictionPoint(
                kind="stage",
                key=s.stage,
                impact=t["impact"],
                traffic=s.entries,
                detractor_lift=t["detractor_lift"],
                negative_lift=t["negative_lift"],
                repeat_contact_rate=s.repeat_contact_rate,
                abandonment_rate=s.abandonment_rate,
                value_at_stake=s.value_at_stake,
                evidence=evidence,
            )
        )
    for ts in (transitions or {}).values():
        if ts.count < min_traffic:
            continue
        dl = shrunk_lift(ts.detractors, ts.nps_answers, base[0], w.prior_answers)
        nl = shrunk_lift(ts.negative, ts.sentiment_n, base[1], w.prior_answers)
        impact = _experience(ts.count, dl, nl)
        if impact <= 0:
            continue
        evidence = {
            **common,
            "from": ts.from_stage,
            "to": ts.to_stage,
            "count": ts.count,
            "customers": ts.customers,
            "detractors": ts.detractors,
            "nps_answers": ts.nps_answers,
            "detractor_share": _ratio(ts.detractors, ts.nps_answers),
            "negative": ts.negative,
            "sentiment_n": ts.sentiment_n,
            "negative_share": _ratio(ts.negative, ts.sentiment_n),
            "experience_term": impact,
        }
        points.append(FrictionPoint("transition", ts.key, impact, ts.count, dl, nl, None, None, None, evidence))
    points.sort(key=lambda p: (-p.impact, p.kind, p.key))
    return points
