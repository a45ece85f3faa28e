"""Score-only sentiment rules and social-text clean-up."""

from __future__ import annotations

import pytest

from cxm_insight.nlp.scores import ces_sentiment, csat_sentiment, nps_sentiment, score_sentiment
from cxm_insight.nlp.text import clean_text, split_sentences


@pytest.mark.parametrize(
    ("nps", "label"),
    [(0, "negative"), (6, "negative"), (7, "neutral"), (8, "neutral"), (9, "positive"), (10, "positive")],
)
def test_nps_bands(nps: int, label: str) -> None:
    assert nps_sentiment(nps) == label


@pytest.mark.parametrize(
    ("csat", "label"), [(1, "negative"), (2, "negative"), (3, "neutral"), (4, "positive"), (5, "positive")]
)
def test_csat_bands(csat: int, label: str) -> None:
    assert csat_sentiment(csat) == label


@pytest.mark.parametrize(
    ("ces", "label"), [(1, "negative"), (3, "negative"), (4, "neutral"), (5, "positive"), (7, "positive")]
)
def test_ces_bands_where_high_means_easy(ces: int, label: str) -> None:
    assert ces_sentiment(ces) == label


def test_no_scores_is_neutral_with_no_confidence() -> None:
    sentiment = score_sentiment(None, None, None)
    assert (sentiment.label, sentiment.score, sentiment.confidence) == ("neutral", 0.0, 0.0)


def test_agreeing_scores_are_confident_and_signed() -> None:
    sentiment = score_sentiment(2, 1, None)
    assert sentiment.label == "negative" and sentiment.score == -1.0 and sentiment.confidence == 1.0


def test_mentions_urls_and_hashtag_marks_are_stripped() -> None:
    cleaned = clean_text("@united my bag is lost again http://t.co/abc #fail &amp; no reply @help")
    assert cleaned == "my bag is lost again fail & no reply"


def test_empty_text_cleans_to_empty() -> None:
    assert clean_text(None) == "" and clean_text("   ") == ""


def test_sentences_split_at_ends_and_contrasts() -> None:
    assert split_sentences("The staff were lovely but the food was cold. Never again!") == [
        "The staff were lovely",
        "the food was cold.",
        "Never again!",
    ]
