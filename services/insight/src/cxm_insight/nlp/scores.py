"""Sentiment implied by survey scores alone, for feedback that carries no words."""

from __future__ import annotations

from cxm_insight.nlp.analysis import Sentiment


def score_label(nps: int | None, csat: int | None, ces: int | None) -> str | None:
    """The sentiment the scores imply (NPS first, then CSAT, then CES), or None without any score.

    NPS 0-6 negative, 7-8 neutral, 9-10 positive; CSAT 1-2 / 3 / 4-5; CES 1-3 / 4 / 5-7 (a high CES means easy).
    """
    if nps is not None:
        return "negative" if nps <= 6 else "neutral" if nps <= 8 else "positive"
    if csat is not None:
        return "negative" if csat <= 2 else "neutral" if csat == 3 else "positive"
    if ces is not None:
        return "negative" if ces <= 3 else "neutral" if ces == 4 else "positive"
    return None


def score_sentiment(nps: int | None, csat: int | None, ces: int | None) -> Sentiment:
    """A Sentiment from survey scores; neutral with zero confidence when there are none."""
    label = score_label(nps, csat, ces)
    if label is None:
        return Sentiment("neutral", 0.0, 0.0)
    signed = {"negative": -1.0, "neutral": 0.0, "positive": 1.0}[label]
    return Sentiment(label, signed, 1.0)
