"""Specification of the urgency rules."""

from __future__ import annotations

import pytest

from cxm_insight.nlp.urgency import assess_urgency

CALM = {"anger": 0.1, "frustration": 0.1}


@pytest.mark.parametrize(
    ("text", "sentiment", "intent", "level"),
    [
        ("There is a smell of gas in the flat since your engineer left", "negative", "complaint", "critical"),
        ("I have passed this to my solicitor", "negative", "complaint", "critical"),
        ("Someone made an unauthorised payment from my account", "negative", "complaint", "critical"),
        ("Cancel my account or I leave", "negative", "churn_threat", "high"),
        ("This is the third time I call about the same fault", "negative", "complaint", "high"),
        ("My flight leaves tonight and the booking is gone", "negative", "complaint", "high"),
        ("The parcel arrived a day late", "negative", "complaint", "medium"),
        ("Thank you, the team was brilliant today", "positive", "praise", "low"),
        ("Could you add a dark mode?", "neutral", "suggestion", "low"),
        ("What time do you open?", "neutral", "question", "low"),
    ],
)
def test_urgency_levels(text: str, sentiment: str, intent: str, level: str) -> None:
    """Safety, legal and fraud are critical; churn, repeats and same-day deadlines high; problems medium."""
    assert assess_urgency(text, sentiment, intent, CALM)[0] == level


def test_every_raised_level_says_why() -> None:
    """A reason accompanies anything above low, and low has none."""
    assert assess_urgency("Cancel my account or I leave", "negative", "churn_threat", CALM) == ("high", "churn threat")
    assert assess_urgency("What time do you open?", "neutral", "question", CALM) == ("low", None)


def test_strong_anger_raises_a_problem_to_high() -> None:
    """A furious customer with an ordinary problem needs a faster answer."""
    assert assess_urgency("The parcel is late", "negative", "complaint", {"anger": 0.95})[0] == "high"
