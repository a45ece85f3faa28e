"""Specification of the analyzer on clear, hand-written feedback."""

from __future__ import annotations

import json

import numpy as np

from cxm_insight.nlp.analysis import EMOTIONS, INTENTS, AnalysisInput, TextAnalysis
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, parse_taxonomy


def one(analyzer: Analyzer, text: str | None, **scores: int) -> TextAnalysis:
    """Analyse a single item with the default taxonomy."""
    results, _ = analyzer.analyze([AnalysisInput(text=text, **scores)], DEFAULT_TAXONOMY)
    return results[0]


def test_an_obvious_complaint_is_negative_with_intent_complaint(analyzer: Analyzer) -> None:
    """A late order and unanswered emails read as a negative complaint that needs fixing."""
    result = one(analyzer, "My order is three weeks late and nobody answers my emails. This is unacceptable.")
    assert result.sentiment.label == "negative"
    assert result.sentiment.score < -0.5
    assert result.intent == "complaint"
    assert result.urgency in {"medium", "high"}


def test_a_complaint_without_emotional_words_is_still_negative(analyzer: Analyzer) -> None:
    """Customers state facts: a two-hour hold with no update is negative even without 'angry' or 'terrible'."""
    assert one(analyzer, "Been on hold for two hours and still no update on my refund").sentiment.label == "negative"


def test_cancel_or_i_leave_is_a_churn_threat_with_high_urgency(analyzer: Analyzer) -> None:
    """A conditional threat to leave is churn, and churn is at least high urgency."""
    result = one(analyzer, "Cancel my account or I leave. I have had enough of this.")
    assert result.intent == "churn_threat"
    assert result.urgency in {"high", "critical"}
    assert result.urgency_reason


def test_a_thank_you_is_positive_gratitude_and_praise(analyzer: Analyzer) -> None:
    """Thanks are positive, gratitude is the strongest emotion, and urgency is low."""
    result = one(analyzer, "Thank you so much for sorting out my problem so quickly, really appreciated!")
    assert result.sentiment.label == "positive"
    assert max(result.emotions, key=lambda e: result.emotions[e]) == "gratitude"
    assert result.intent == "praise"
    assert result.urgency == "low"


def test_a_double_charge_hits_billing(analyzer: Analyzer) -> None:
    """A text about an invoice charge is tagged with the billing topic and carries evidence."""
    result = one(analyzer, "I was charged twice on my last invoice and need one payment reversed")
    topics = [hit.topic for hit in result.topics]
    assert topics and topics[0] == "billing"
    assert result.topics[0].sentiment.label == "negative"
    assert "charged twice" in result.topics[0].evidence


def test_a_how_to_question_is_a_neutral_question(analyzer: Analyzer) -> None:
    """An information request is neither complaint nor praise."""
    result = one(analyzer, "How do I change the delivery address on my order?")
    assert result.intent == "question"
    assert result.sentiment.label == "neutral"
    assert result.urgency == "low"


def test_mixed_feedback_gets_a_sentiment_per_topic(analyzer: Analyzer) -> None:
    """When several topics appear in separate clauses, each topic gets its own clause's sentiment."""
    result = one(analyzer, "The staff were lovely and friendly. But the app keeps crashing and I cannot log in.")
    by_topic = {hit.topic: hit.sentiment.label for hit in result.topics}
    assert by_topic.get("staff_attitude") == "positive"
    assert "negative" in by_topic.values()


def test_score_only_feedback_takes_its_sentiment_from_the_score(analyzer: Analyzer) -> None:
    """No words: NPS/CSAT/CES decide, with no topics, intent other and a zero embedding."""
    results, vectors = analyzer.analyze(
        [AnalysisInput(None, nps=3), AnalysisInput("", csat=5), AnalysisInput("  ", ces=4)], DEFAULT_TAXONOMY
    )
    assert [r.sentiment.label for r in results] == ["negative", "positive", "neutral"]
    assert all(r.topics == () and r.intent == "other" for r in results)
    assert not vectors.any()


def test_the_text_decides_when_it_disagrees_with_the_score(analyzer: Analyzer) -> None:
    """A glowing text with a low NPS stays positive: scores are kept separately by the service."""
    result = one(analyzer, "Absolutely brilliant service, thank you!", nps=2)
    assert result.sentiment.label == "positive"


def test_social_handles_and_links_do_not_change_the_analysis(analyzer: Analyzer) -> None:
    """Mentions, URLs and hashtag marks are stripped before encoding."""
    plain = one(analyzer, "my flight is delayed again fail")
    social = one(analyzer, "@airline my flight is delayed again #fail https://t.co/xyz")
    assert plain.to_dict() == social.to_dict()


def test_results_are_deterministic_and_json_friendly(analyzer: Analyzer) -> None:
    """Same input, same output; to_dict is plain JSON with every intent and emotion scored."""
    items = [AnalysisInput("The app crashes when I pay"), AnalysisInput("Great crew, thanks!")]
    first, v1 = analyzer.analyze(items, DEFAULT_TAXONOMY)
    second, v2 = analyzer.analyze(items, DEFAULT_TAXONOMY)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    assert np.array_equal(v1, v2)
    data = json.loads(json.dumps(first[0].to_dict()))
    assert set(data["intent_scores"]) == set(INTENTS)
    assert set(data["emotions"]) == set(EMOTIONS)
    assert data["model_version"] == analyzer.model_version
    assert v1.shape == (2, 384)


def test_a_tenant_taxonomy_is_used_for_topics(analyzer: Analyzer) -> None:
    """Topics come from the taxonomy passed in, not only the default one."""
    taxonomy = parse_taxonomy(
        {"topics": [{"id": "parking", "name": "Parking", "keywords": ["parking", "car park"]}]}, 1
    )
    results, _ = analyzer.analyze([AnalysisInput("The car park was full again")], taxonomy)
    assert [hit.topic for hit in results[0].topics] == ["parking"]
