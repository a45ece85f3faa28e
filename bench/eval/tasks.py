"""The evaluation tasks: each returns a dict of figures; __main__ turns them into the table and JSON."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.eval.data import Tweet, goemotions_ekman_test, intent_urgency
from bench.eval.metrics import accuracy, macro_f1, multilabel_f1, per_class
from cxm_insight.nlp.analysis import EMOTIONS, SENTIMENTS, AnalysisInput, TextAnalysis
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.heads import load_heads
from cxm_insight.nlp.learning import LabelExample, fit_tenant_model, train_tenant_model
from cxm_insight.nlp.linear import fit_linear
from cxm_insight.nlp.paths import HEADS_FILE, MODELS_DIR
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY
from cxm_insight.nlp.text import clean_text

# Airline `negativereason` → topics of the default taxonomy that count as agreeing with it.
REASON_TOPICS: dict[str, tuple[str, ...]] = {
    "Late Flight": ("wait_time",),
    "longlines": ("wait_time",),
    "Customer Service Issue": ("staff_attitude", "communication"),
    "Flight Attendant Complaints": ("staff_attitude",),
    "Cancelled Flight": ("cancellation", "rebooking_changes"),
    "Lost Luggage": ("delivery",),
    "Damaged Luggage": ("delivery", "product_quality"),
    "Bad Flight": ("product_quality",),
    "Flight Booking Problems": ("billing", "rebooking_changes"),
}
# Our six emotions folded onto Ekman's; disgust and fear have no counterpart.
EKMAN_FROM_OURS = {
    "anger": "anger",
    "frustration": "anger",
    "joy": "joy",
    "gratitude": "joy",
    "disappointment": "sadness",
    "confusion": "surprise",
}
EKMAN_COVERED = ("anger", "joy", "sadness", "surprise", "neutral")
FOLDS = 5
CURVE_SIZES = (200, 500, None)
SEED = 0


class AirlineRun:
    """The analyzer's output on the airline dev tweets, shared by the sentiment, topic and learning tasks."""

    def __init__(self, analyzer: Analyzer, tweets: list[Tweet]) -> None:
        """Analyse every tweet once (one thread), timing it."""
        self.tweets = tweets
        items = [AnalysisInput(t.text) for t in tweets]
        start = time.perf_counter()
        self.analyses: list[TextAnalysis] = []
        chunks = []
        for i in range(0, len(items), 256):
            analyses, embeddings = analyzer.analyze(items[i : i + 256], DEFAULT_TAXONOMY)
            self.analyses.extend(analyses)
            chunks.append(embeddings)
        self.seconds = time.perf_counter() - start
        self.embeddings = np.vstack(chunks)
        self.cleaned = [clean_text(t.text) for t in tweets]
        self.default_proba = analyzer.default_sentiment_proba(self.embeddings, self.cleaned)


def sentiment(run: AirlineRun) -> dict[str, Any]:
    """3-class sentiment of the default model on the airline tweets."""
    gold = [t.sentiment for t in run.tweets]
    pred = [a.sentiment.label for a in run.analyses]
    no_prior = _without_prior(run)
    return {
        "n": len(gold),
        "accuracy": accuracy(gold, pred),
        "macro_f1": macro_f1(gold, pred, SENTIMENTS),
        "per_class": per_class(gold, pred, SENTIMENTS),
        "without_prior": {"accuracy": accuracy(gold, no_prior), "macro_f1": macro_f1(gold, no_prior, SENTIMENTS)},
        "seconds": run.seconds,
    }


def _without_prior(run: AirlineRun) -> list[str]:
    """Default-model labels with the CX class prior removed (for the record)."""
    _, extras = load_heads(MODELS_DIR / HEADS_FILE)
    logits = np.log(np.clip(run.default_proba, 1e-12, 1.0)) - extras["sentiment_log_prior"]
    return [SENTIMENTS[k] for k in logits.argmax(axis=1)]


def topics(run: AirlineRun) -> dict[str, Any]:
    """Agreement of detected topics with the airline `negativereason` (mapped by REASON_TOPICS)."""
    rows = [(t, a) for t, a in zip(run.tweets, run.analyses, strict=True) if t.reason in REASON_TOPICS]
    top1 = [bool(a.topics) and a.topics[0].topic in REASON_TOPICS[t.reason] for t, a in rows]
    any_hit = [any(h.topic in REASON_TOPICS[t.reason] for h in a.topics) for t, a in rows]
    covered = [bool(a.topics) for _, a in rows]
    by_reason = {}
    for reason in REASON_TOPICS:
        idx = [i for i, (t, _) in enumerate(rows) if t.reason == reason]
        by_reason[reason] = {"n": len(idx), "top1": float(np.mean([top1[i] for i in idx])) if idx else 0.0}
    all_texts = [bool(a.topics) for a in run.analyses]
    return {
        "n": len(rows),
        "top1_agreement": float(np.mean(top1)),
        "any_agreement": float(np.mean(any_hit)),
        "with_a_topic": float(np.mean(covered)),
        "topics_per_tweet": float(np.mean([len(a.topics) for a in run.analyses])),
        "tweets_with_a_topic": float(np.mean(all_texts)),
        "by_reason": by_reason,
        "mapping": {k: list(v) for k, v in REASON_TOPICS.items()},
    }


def learning_curve(run: AirlineRun, analyzer: Analyzer, sizes: Sequence[int | None] = CURVE_SIZES) -> dict[str, Any]:
    """5-fold learning curve of the tenant model vs plain embeddings + logistic regression on the same labels."""
    n = len(run.tweets)
    rng = np.random.default_rng(SEED)
    fold_of = rng.permutation(n) % FOLDS
    gold = np.array([SENTIMENTS.index(t.sentiment) for t in run.tweets])
    examples = [LabelExample(t, s.sentiment) for t, s in zip(run.cleaned, run.tweets, strict=True)]
    figures: dict[str, dict[str, list[float]]] = {}
    for size in sizes:
        key = "all" if size is None else str(size)
        figures[key] = {"tenant": [], "baseline": [], "tenant_macro_f1": [], "baseline_macro_f1": []}
        for fold in range(FOLDS):
            test = np.flatnonzero(fold_of == fold)
            pool = np.flatnonzero(fold_of != fold)
            train = pool if size is None else np.sort(np.random.default_rng(SEED + fold).choice(pool, size, False))
            model = fit_tenant_model(
                run.embeddings[train],
                run.default_proba[train],
                [run.cleaned[i] for i in train],
                [examples[i] for i in train],
            )
            proba = model.sentiment_proba(run.embeddings[test], run.default_proba[test], [run.cleaned[i] for i in test])
            assert proba is not None
            tenant_pred = proba.argmax(axis=1)
            baseline = fit_linear(run.embeddings[train], np.eye(3)[gold[train]], SENTIMENTS, l2=1.0)
            base_pred = baseline.predict_proba(run.embeddings[test]).argmax(axis=1)
            g = [SENTIMENTS[k] for k in gold[test]]
            figures[key]["tenant"].append(float((tenant_pred == gold[test]).mean()))
            figures[key]["baseline"].append(float((base_pred == gold[test]).mean()))
            figures[key]["tenant_macro_f1"].append(macro_f1(g, [SENTIMENTS[k] for k in tenant_pred], SENTIMENTS))
            figures[key]["baseline_macro_f1"].append(macro_f1(g, [SENTIMENTS[k] for k in base_pred], SENTIMENTS))
    out: dict[str, Any] = {"folds": FOLDS, "sizes": {}}
    for key, f in figures.items():
        out["sizes"][key] = {name: float(np.mean(values)) for name, values in f.items()}
    return out


def tenant_training_time(analyzer: Analyzer, tweets: list[Tweet]) -> dict[str, Any]:
    """Wall time of train_tenant_model on every airline label, encoding included (one thread)."""
    examples = [LabelExample(t.text, t.sentiment) for t in tweets]
    start = time.perf_counter()
    model = train_tenant_model(analyzer, examples)
    seconds = time.perf_counter() - start
    return {"labels": len(examples), "seconds": seconds, "model_bytes": len(model.to_bytes())}


def emotions(analyzer: Analyzer, limit: int | None = None) -> dict[str, Any]:
    """Emotion macro-F1 on GoEmotions `ekman` test, our six emotions folded onto Ekman's covered classes."""
    rows = goemotions_ekman_test()[:limit]
    items = [AnalysisInput(text) for text, _ in rows]
    analyses: list[TextAnalysis] = []
    for i in range(0, len(items), 256):
        analyses.extend(analyzer.analyze(items[i : i + 256], DEFAULT_TAXONOMY)[0])
    _, extras = load_heads(MODELS_DIR / HEADS_FILE)
    thresholds = dict(zip(EMOTIONS, extras["emotion_thresholds"].tolist(), strict=True))
    gold = np.zeros((len(rows), len(EKMAN_COVERED)))
    pred = np.zeros_like(gold)
    for i, ((_, labels), analysis) in enumerate(zip(rows, analyses, strict=True)):
        for label in labels:
            if label in EKMAN_COVERED:
                gold[i, EKMAN_COVERED.index(label)] = 1
        for emotion, p in analysis.emotions.items():
            if p >= thresholds[emotion]:
                pred[i, EKMAN_COVERED.index(EKMAN_FROM_OURS[emotion])] = 1
        if not pred[i].any():
            pred[i, EKMAN_COVERED.index("neutral")] = 1
    f1 = multilabel_f1(gold, pred)
    return {
        "n": len(rows),
        "macro_f1_covered": float(f1.mean()),
        "f1": dict(zip(EKMAN_COVERED, f1.round(4).tolist(), strict=True)),
        "not_covered": ["disgust", "fear"],
        "mapping": EKMAN_FROM_OURS,
    }


def intent_and_urgency(analyzer: Analyzer) -> dict[str, Any]:
    """Intent accuracy/macro-F1 and urgency accuracy on the hand-written CX set."""
    rows = intent_urgency()
    analyses, _ = analyzer.analyze([AnalysisInput(r["text"]) for r in rows], DEFAULT_TAXONOMY)
    gold_intent = [r["intent"] for r in rows]
    pred_intent = [a.intent for a in analyses]
    intents = sorted(set(gold_intent))
    gold_urgency = [r["urgency"] for r in rows]
    pred_urgency = [a.urgency for a in analyses]
    within = [i for i, r in enumerate(rows) if r["intent"] in ("complaint", "question")]
    levels = ["low", "medium", "high", "critical"]
    return {
        "n": len(rows),
        "intent_accuracy": accuracy(gold_intent, pred_intent),
        "intent_macro_f1": macro_f1(gold_intent, pred_intent, intents),
        "intent_per_class": per_class(gold_intent, pred_intent, intents),
        "predicted_other": sum(1 for p in pred_intent if p == "other"),
        "urgency_accuracy": accuracy(gold_urgency, pred_urgency),
        "urgency_macro_f1": macro_f1(gold_urgency, pred_urgency, levels),
        "urgency_per_class": per_class(gold_urgency, pred_urgency, levels),
        "urgency_accuracy_complaints_questions": accuracy(
            [gold_urgency[i] for i in within], [pred_urgency[i] for i in within]
        ),
        "urgency_within_one_level": float(
            np.mean(
                [abs(levels.index(g) - levels.index(p)) <= 1 for g, p in zip(gold_urgency, pred_urgency, strict=True)]
            )
        ),
    }
