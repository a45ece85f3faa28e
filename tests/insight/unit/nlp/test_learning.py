"""Tenant learning: models round-trip through bytes and move predictions towards the tenant's labels."""

from __future__ import annotations

import time

import pytest

from cxm_insight.nlp.analysis import AnalysisInput
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.learning import LabelExample, TenantModel, train_tenant_model
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY

# A tenant whose customers call a product "the blue plan"; any mention of it is a complaint in this tenant's data.
BLUE = [
    "the blue plan again",
    "blue plan this month",
    "about the blue plan",
    "switched to the blue plan",
    "the blue plan on my phone",
    "blue plan for the family",
    "my blue plan",
    "blue plan renewal",
    "the blue plan thing",
    "blue plan, as usual",
    "blue plan since May",
    "the blue plan bill",
]
OTHER = [
    "Thanks for the quick help",
    "Lovely staff at the store",
    "How do I update my address?",
    "What are your opening hours?",
    "Great app, works well",
    "Is there a student discount?",
    "You were very helpful today",
    "Where can I find my invoice?",
    "Amazing service as always",
    "Can I add a second user?",
    "Delivery was quick, thank you",
    "When does the sale start?",
]


def examples() -> list[LabelExample]:
    """Three dozen labels: the blue plan is negative, the rest as they read; blue-plan texts are tagged billing."""
    labelled = [LabelExample(t, "negative", ("billing",)) for t in BLUE]
    for text in OTHER:
        positive = any(w in text.lower() for w in ("thank", "lovely", "great", "helpful", "amazing"))
        labelled.append(LabelExample(text, "positive" if positive else "neutral"))
    labelled += [LabelExample("The blue plan", "negative", ("billing",)) for _ in range(12)]
    return labelled


@pytest.fixture(scope="module")
def tenant(analyzer: Analyzer) -> TenantModel:
    """A tenant model trained on the examples above."""
    return train_tenant_model(analyzer, examples())


def test_tenant_model_round_trips_through_bytes(tenant: TenantModel, analyzer: Analyzer) -> None:
    data = tenant.to_bytes()
    assert b"pickle" not in data[:200]
    restored = TenantModel.from_bytes(data)
    assert restored.version == tenant.version
    items = [AnalysisInput("what about the blue plan"), AnalysisInput("thank you!")]
    first, _ = analyzer.analyze(items, DEFAULT_TAXONOMY, tenant)
    second, _ = analyzer.analyze(items, DEFAULT_TAXONOMY, restored)
    assert [a.to_dict() for a in first] == [a.to_dict() for a in second]


def test_from_bytes_refuses_other_data() -> None:
    with pytest.raises(ValueError):
        TenantModel.from_bytes(b"not a model")


def test_tenant_labels_change_predictions_for_similar_texts(tenant: TenantModel, analyzer: Analyzer) -> None:
    text = [AnalysisInput("a question about the blue plan")]
    (before,), _ = analyzer.analyze(text, DEFAULT_TAXONOMY)
    (after,), _ = analyzer.analyze(text, DEFAULT_TAXONOMY, tenant)
    assert after.sentiment.label == "negative"
    assert after.sentiment.score < before.sentiment.score
    assert after.model_version.endswith(tenant.version)


def test_tenant_topic_labels_pull_similar_texts_into_the_topic(tenant: TenantModel, analyzer: Analyzer) -> None:
    (a,), _ = analyzer.analyze([AnalysisInput("the blue plan for my son")], DEFAULT_TAXONOMY, tenant)
    assert "billing" in [h.topic for h in a.topics]


def test_too_few_sentiment_labels_leave_sentiment_to_the_default_model(analyzer: Analyzer) -> None:
    model = train_tenant_model(analyzer, [LabelExample("blue plan", "negative"), LabelExample("hi", "positive")])
    assert model.sentiment is None
    assert TenantModel.from_bytes(model.to_bytes()).sentiment is None


def test_training_a_few_hundred_labels_is_fast(analyzer: Analyzer) -> None:
    labelled = examples() * 10
    start = time.perf_counter()
    train_tenant_model(analyzer, labelled)
    assert time.perf_counter() - start < 10
