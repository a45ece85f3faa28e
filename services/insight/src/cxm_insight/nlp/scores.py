"""Sentiment from survey scores alone (NPS, CSAT, CES), for feedback that has no words."""

from __future__ import annotations

from cxm_insight.nlp.analysis import Sentiment


def nps_sentiment(nps: int) -> str:
    """NPS 0–6 detractor → negative, 7–8 passive → neutral, 9–10 promoter → positive."""
    return "negative" if nps <= 6 else "neutral" if nps <= 8 else "positive"


def csat_sentiment(csat: int) -> str:
    """CSAT 1–2 negative, 3 neutral, 4–5 positive."""
    return "negative" if csat <= 2 else "neutral" if csat == 3 else "positive"


def ces_sentiment(ces: int) -> str:
    """CES (1–7, high = easy): 1–3 negative, 4 neutral, 5–7 positive."""
    return "negative" if ces <= 3 else "neutral" if ces == 4 else "positive"


def _signed(label: str) -> float:
    """-1, 0 or +1 for a label."""
    return {"negative": -1.0, "neutral": 0.0, "positive": 1.0}[label]


def score_sentiment(nps: int | None, csat: int | None, ces: int | None) -> Sentiment:
    """Combine whichever scores are present (NPS first, then CSAT, then CES); neutral when none are."""
    labels: list[str] = []
    if nps is not None:
        labels.append(nps_sentiment(nps))
    if csat is not None:
        labels.append(csat_sentiment(csat))
    if ces is not None:
        labels.append(ces_sentiment(ces))
    if not labels:
        return Sentiment("neutral", 0.0, 0.0)
    mean = sum(_signed(label) for label in labels) / len(labels)
    label = labels[0] if len(set(labels)) > 1 and abs(mean) < 1 / 3 else _label_for(mean)
    agreement = labels.count(label) / len(labels)
    return Sentiment(label, mean, agreement)


def _label_for(score: float) -> str:
    """The label nearest a mean signed score."""
    return "negative" if score <= -1 / 3 else "positive" if score >= 1 / 3 else "neutral"
