"""Specification of sentiment from survey scores alone."""

from __future__ import annotations

import pytest

from cxm_insight.nlp.scores import score_label


@pytest.mark.parametrize(
    ("nps", "csat", "ces", "label"),
    [
        (0, None, None, "negative"),
        (6, None, None, "negative"),
        (7, None, None, "neutral"),
        (8, None, None, "neutral"),
        (9, None, None, "positive"),
        (10, None, None, "positive"),
        (None, 1, None, "negative"),
        (None, 2, None, "negative"),
        (None, 3, None, "neutral"),
        (None, 4, None, "positive"),
        (None, None, 3, "negative"),
        (None, None, 4, "neutral"),
        (None, None, 5, "positive"),
        (None, None, 7, "positive"),
        (None, None, None, None),
    ],
)
def test_score_bands(nps: int | None, csat: int | None, ces: int | None, label: str | None) -> None:
    """NPS 0-6/7-8/9-10, CSAT 1-2/3/4-5 and CES 1-3/4/5-7 (high CES = easy) map to negative/neutral/positive."""
    assert score_label(nps, csat, ces) == label


def test_nps_decides_when_several_scores_disagree() -> None:
    """NPS is the headline score, so it wins over CSAT and CES."""
    assert score_label(10, 1, 1) == "positive"
