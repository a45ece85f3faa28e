"""The analyzer on clear hand-written feedback: sentiment, intent, urgency, emotions, topics, score-only items."""

from __future__ import annotations

import numpy as np

from cxm_insight.nlp.analysis import EMOTIONS, INTENTS, AnalysisInput
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, parse_taxonomy


def analyse(analyzer: Analyzer, *texts: str | None):  # type: ignore[no-untyped-def]
    """Analyses of texts against the default taxonomy."""
    analyses, _ = analyzer.analyze([AnalysisInput(t) for t in texts], DEFAULT_TAXONOMY)
    return analyses


def test_an_obvious_complaint_is_negative_with_intent_complaint(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "My order arrived broken and support has ignored my emails for a week.")
    assert a.sentiment.label == "negative"
    assert a.sentiment.score < -0.3
    assert a.intent == "complaint"
    assert a.urgency in ("medium", "high")


def test_cancel_or_i_leave_is_a_churn_threat_with_high_urgency(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "Cancel my account or I leave. Third outage this week, I'm done.")
    assert a.intent == "churn_threat"
    assert a.urgency in ("high", "critical")
    assert a.urgency_reason


def test_a_thank_you_is_positive_gratitude_and_low_urgency(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "Thank you so much for sorting out my problem so quickly!")
    assert a.sentiment.label == "positive"
    assert max(a.emotions, key=lambda e: a.emotions[e]) == "gratitude"
    assert a.intent == "praise"
    assert a.urgency == "low" and a.urgency_reason is None


def test_a_billing_text_hits_billing(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "I was charged twice for the same invoice this month.")
    assert "billing" in [h.topic for h in a.topics]
    hit = next(h for h in a.topics if h.topic == "billing")
    assert 0.5 <= hit.confidence <= 1.0 and hit.evidence


def test_a_how_do_i_text_is_a_question(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "How do I change the delivery address on my order?")
    assert a.intent == "question"
    assert a.sentiment.label != "positive"


def test_fraud_is_critical(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "Someone hacked my account and made unauthorized payments with my card!")
    assert a.urgency == "critical"


def test_score_only_feedback_takes_its_sentiment_from_the_scores(analyzer: Analyzer) -> None:
    items = [AnalysisInput(None, nps=3), AnalysisInput("", csat=5), AnalysisInput("  ", ces=4), AnalysisInput(None)]
    analyses, embeddings = analyzer.analyze(items, DEFAULT_TAXONOMY)
    assert [a.sentiment.label for a in analyses] == ["negative", "positive", "neutral", "neutral"]
    assert all(a.intent == "other" and a.topics == () and a.urgency == "low" for a in analyses)
    assert not embeddings.any()


def test_the_text_decides_sentiment_when_it_disagrees_with_the_score(analyzer: Analyzer) -> None:
    (a,), _ = analyzer.analyze([AnalysisInput("Terrible service, my refund never came.", nps=10)], DEFAULT_TAXONOMY)
    assert a.sentiment.label == "negative"


def test_results_are_deterministic_and_embeddings_line_up_with_items(analyzer: Analyzer) -> None:
    items = [AnalysisInput("Still waiting for my refund"), AnalysisInput(None, nps=9), AnalysisInput("Great app")]
    first, emb1 = analyzer.analyze(items, DEFAULT_TAXONOMY)
    second, emb2 = analyzer.analyze(items, DEFAULT_TAXONOMY)
    assert [a.to_dict() for a in first] == [a.to_dict() for a in second]
    assert np.array_equal(emb1, emb2)
    assert emb1.shape == (3, 384) and not emb1[1].any()
    assert np.allclose(np.linalg.norm(emb1[[0, 2]], axis=1), 1.0, atol=1e-5)


def test_analysis_is_json_friendly_and_complete(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "@delta flight delayed 4 hours http://t.co/x #fail")
    data = a.to_dict()
    assert set(data["emotions"]) == set(EMOTIONS)
    assert set(data["intent_scores"]) == set(INTENTS)
    assert abs(sum(data["intent_scores"].values()) - 1.0) < 1e-3
    assert data["model_version"] == analyzer.model_version
    assert "wait_time" in [t["topic"] for t in data["topics"]]


def test_mixed_feedback_gets_a_sentiment_per_topic(analyzer: Analyzer) -> None:
    (a,) = analyse(analyzer, "The staff were lovely and friendly. But the price was far too expensive.")
    by_topic = {h.topic: h.sentiment.label for h in a.topics}
    assert by_topic.get("staff_attitude") == "positive"
    assert by_topic.get("pricing") == "negative"


def test_a_tenant_taxonomy_is_used_for_topics(analyzer: Analyzer) -> None:
    taxonomy = parse_taxonomy(
        {
            "topics": [
                {"id": "parking", "name": "Parking", "keywords": ["car park", "parking"]},
                {"id": "menu", "name": "Menu"},
            ]
        },
        version=2,
    )
    (a,), _ = analyzer.analyze([AnalysisInput("The car park was full and there was no parking anywhere")], taxonomy)
    assert [h.topic for h in a.topics][:1] == ["parking"]
