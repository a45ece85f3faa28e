"""Specification of learning from a tenant's labels."""

from __future__ import annotations

import numpy as np
import pytest

from cxm_insight.nlp.analysis import AnalysisInput
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.learning import LabelExample, TenantModel, train_tenant_model
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY

# A tenant whose analysts read "the gym was busy" as a plain observation (the default model reads a complaint).
BUSY = [f"The gym was busy at {h} {m}" for h in ("6", "7", "8", "9", "noon") for m in ("am", "pm", "on Monday")]
THANKS = [f"Thanks to {name} for a good class" for name in ("Sam", "Ana", "Lee", "Kim", "Max", "Ola", "Raj", "Tom")]
COMPLAINTS = [f"The {thing} in the changing room is broken" for thing in ("shower", "locker", "dryer", "door", "tap")]
QUESTIONS = [f"What time does the {room} open?" for room in ("pool", "sauna", "studio", "spa", "cafe", "shop", "gym")]


@pytest.fixture(scope="module")
def model(analyzer: Analyzer) -> TenantModel:
    """A tenant model from a few dozen labels."""
    examples = [LabelExample(t, "neutral", ("wait_time",)) for t in BUSY]
    examples += [LabelExample(t, "positive") for t in THANKS] + [LabelExample(t, "neutral") for t in QUESTIONS]
    examples += [LabelExample(t, "negative") for t in COMPLAINTS]
    return train_tenant_model(analyzer, examples)


def test_a_few_dozen_labels_change_predictions_for_similar_texts(analyzer: Analyzer, model: TenantModel) -> None:
    """After labelling 'busy gym' texts neutral, a new one is neutral for this tenant only."""
    item = [AnalysisInput("The gym was busy at 5 pm on Friday")]
    default, _ = analyzer.analyze(item, DEFAULT_TAXONOMY)
    tenant, _ = analyzer.analyze(item, DEFAULT_TAXONOMY, model)
    assert default[0].sentiment.label == "negative"
    assert tenant[0].sentiment.label == "neutral"


def test_labelled_topics_pull_similar_texts_towards_them(analyzer: Analyzer, model: TenantModel) -> None:
    """Texts like those labelled wait_time are tagged wait_time."""
    results, _ = analyzer.analyze([AnalysisInput("So busy at the gym tonight")], DEFAULT_TAXONOMY, model)
    assert "wait_time" in [hit.topic for hit in results[0].topics]


def test_a_tenant_model_round_trips_through_bytes(analyzer: Analyzer, model: TenantModel) -> None:
    """to_bytes/from_bytes keep the version and the predictions; the bytes are an .npz without pickles."""
    data = model.to_bytes()
    assert data[:2] == b"PK"
    again = TenantModel.from_bytes(data)
    assert again.version == model.version
    items = [AnalysisInput(t) for t in ("The gym was busy at 5 pm", "Thanks Jo, great class")]
    first, _ = analyzer.analyze(items, DEFAULT_TAXONOMY, model)
    second, _ = analyzer.analyze(items, DEFAULT_TAXONOMY, again)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]


def test_garbage_bytes_are_refused() -> None:
    """Anything but a tenant model raises ValueError."""
    with pytest.raises(ValueError, match="not a tenant model"):
        TenantModel.from_bytes(b"definitely not a model")


def test_too_few_sentiment_labels_keep_the_default_sentiment(analyzer: Analyzer) -> None:
    """With a handful of labels only topic centroids are learned; sentiment stays the default model's."""
    model = train_tenant_model(analyzer, [LabelExample(t, "negative", ("wait_time",)) for t in BUSY[:5]])
    assert model.sentiment is None
    assert set(model.topic_centroids) == {"wait_time"}
    default = np.array([[0.2, 0.5, 0.3]])
    assert np.array_equal(model.sentiment_proba(np.zeros((1, 384)), default, ["x"]), default)
