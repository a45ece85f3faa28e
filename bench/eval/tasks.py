"""The evaluation tasks: each returns figures (value, target, pass) and details for the JSON report."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.eval import metrics
from bench.eval.datasets import Tweet
from cxm_insight.nlp.analysis import EMOTIONS, INTENTS, SENTIMENTS, URGENCIES, AnalysisInput, TextAnalysis
from cxm_insight.nlp.analyzer import Analyzer
from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.heads import Heads
from cxm_insight.nlp.learning import LabelExample, train_tenant_model
from cxm_insight.nlp.linear import fit_linear
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY
from cxm_insight.nlp.text import clean_text

# Airline root causes mapped onto the default taxonomy: a tweet agrees when the analyzer's most confident topic is
# one of these ("Can't Tell" is left out).
REASON_TOPICS: dict[str, frozenset[str]] = {
    "Late Flight": frozenset({"wait_time"}),
    "longlines": frozenset({"wait_time"}),
    "Cancelled Flight": frozenset({"cancellation"}),
    "Customer Service Issue": frozenset({"staff_attitude", "communication"}),
    "Flight Attendant Complaints": frozenset({"staff_attitude"}),
    "Lost Luggage": frozenset({"lost_damaged", "delivery"}),
    "Damaged Luggage": frozenset({"lost_damaged", "product_quality"}),
    "Bad Flight": frozenset({"product_quality"}),
    "Flight Booking Problems": frozenset({"booking", "billing"}),
}
# Our six emotions onto Ekman's: disgust and fear have no counterpart, so they are not scored.
EKMAN_FROM_OURS = {
    "anger": "anger",
    "frustration": "anger",
    "joy": "joy",
    "gratitude": "joy",
    "disappointment": "sadness",
    "confusion": "surprise",
}
EKMAN_SCORED = ("anger", "joy", "sadness", "surprise", "neutral")
CURVE_TARGETS = {200: 0.76, 500: 0.80, "all": 0.83}


@dataclass
class Figure:
    """One measured figure, with its target when it has one."""

    name: str
    value: float
    target: float | None = None
    unit: str = ""
    note: str = ""
    beats: float | None = None

    @property
    def passed(self) -> bool | None:
        """Whether the figure meets its target (and beats its baseline, when it has one); None without target."""
        if self.target is None and self.beats is None:
            return None
        ok = self.target is None or self.value >= self.target
        return ok and (self.beats is None or self.value > self.beats)


@dataclass
class TaskResult:
    """A task's figures and the details kept in the JSON report."""

    figures: list[Figure]
    details: dict[str, Any] = field(default_factory=dict)


class MemoAnalyzer(Analyzer):
    """An Analyzer that remembers embeddings by text, so k-fold training does not re-encode the same tweets."""

    def __init__(self, encoder: Encoder, heads: Heads) -> None:
        """Wrap the encoder and heads with an empty memo."""
        super().__init__(encoder, heads)
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, cleaned: Sequence[str]) -> np.ndarray:
        """Embeddings of cleaned texts, encoding only the ones not seen before."""
        missing = list(dict.fromkeys(t for t in cleaned if t not in self._memo))
        if missing:
            for text, vector in zip(missing, super().embed(missing), strict=True):
                self._memo[text] = vector
        if not cleaned:
            return np.zeros((0, 384), dtype=np.float32)
        return np.vstack([self._memo[t] for t in cleaned])


def analyze(analyzer: Analyzer, texts: Sequence[str]) -> list[TextAnalysis]:
    """Analyse texts with the default taxonomy and no tenant model."""
    results, _ = analyzer.analyze([AnalysisInput(text=t) for t in texts], DEFAULT_TAXONOMY)
    return results


def sentiment_task(tweets: Sequence[Tweet], analyses: Sequence[TextAnalysis]) -> TaskResult:
    """3-class sentiment of the default model on the airline tweets."""
    gold = [t.sentiment for t in tweets]
    predicted = [a.sentiment.label for a in analyses]
    acc = metrics.accuracy(gold, predicted)
    f1 = metrics.macro_f1(gold, predicted, SENTIMENTS)
    return TaskResult(
        [
            Figure("sentiment accuracy (airline dev, default model)", acc, 0.65, note="VADER 0.49"),
            Figure("sentiment macro-F1 (airline dev, default model)", f1, 0.60, note="VADER 0.45"),
        ],
        {
            "rows": len(gold),
            "recall": metrics.recall_by_class(gold, predicted, SENTIMENTS),
            "f1": metrics.f1_by_class(gold, predicted, SENTIMENTS),
            "predicted_share": {s: predicted.count(s) / len(predicted) for s in SENTIMENTS},
        },
    )


def topics_task(tweets: Sequence[Tweet], analyses: Sequence[TextAnalysis]) -> TaskResult:
    """Agreement of the top topic with the airline root cause (negative tweets with a known reason)."""
    rows = [(t, a) for t, a in zip(tweets, analyses, strict=True) if t.reason in REASON_TOPICS]
    top1 = [bool(a.topics) and a.topics[0].topic in REASON_TOPICS[t.reason] for t, a in rows]
    anyhit = [any(h.topic in REASON_TOPICS[t.reason] for h in a.topics) for t, a in rows]
    covered = [bool(a.topics) for _, a in rows]
    by_reason = {
        reason: round(float(np.mean([ok for (t, _), ok in zip(rows, top1, strict=True) if t.reason == reason])), 4)
        for reason in REASON_TOPICS
        if any(t.reason == reason for t, _ in rows)
    }
    return TaskResult(
        [
            Figure(
                "topic agreement with airline root cause (top topic)",
                float(np.mean(top1)),
                note="in-domain TF-IDF+LR trained on the labels: 0.67",
            ),
            Figure("topic agreement, any returned topic", float(np.mean(anyhit))),
            Figure("tweets with at least one topic", float(np.mean(covered))),
        ],
        {
            "rows": len(rows),
            "mapping": {k: sorted(v) for k, v in REASON_TOPICS.items()},
            "top_topic_agreement_by_reason": by_reason,
        },
    )


def emotions_task(analyzer: Analyzer, rows: Sequence[tuple[str, frozenset[str]]]) -> TaskResult:
    """Macro-F1 on GoEmotions' Ekman test split over the Ekman classes our emotions cover, plus neutral."""
    analyses = analyze(analyzer, [text for text, _ in rows])
    thresholds = dict(zip(EMOTIONS, analyzer.heads.emotion_thresholds.tolist(), strict=True))
    predicted = []
    for a in analyses:
        labels = {EKMAN_FROM_OURS[e] for e, p in a.emotions.items() if p >= thresholds[e]}
        predicted.append(frozenset(labels or {"neutral"}))
    gold = [labels for _, labels in rows]
    per_class = {label: metrics.multilabel_f1(gold, predicted, label) for label in EKMAN_SCORED}
    return TaskResult(
        [
            Figure(
                "emotion macro-F1 (GoEmotions Ekman test; anger, joy, sadness, surprise, neutral)",
                float(np.mean(list(per_class.values()))),
                note="disgust and fear not covered",
            )
        ],
        {"rows": len(rows), "f1": per_class, "mapping": EKMAN_FROM_OURS, "not_covered": ["disgust", "fear"]},
    )


def intent_urgency_task(analyzer: Analyzer, rows: Sequence[dict[str, str]]) -> TaskResult:
    """Intent and urgency on the hand-written CX set."""
    analyses = analyze(analyzer, [r["text"] for r in rows])
    gold_intent = [r["intent"] for r in rows]
    intent = [a.intent for a in analyses]
    gold_urgency = [r["urgency"] for r in rows]
    urgency = [a.urgency for a in analyses]
    intents = sorted(set(gold_intent))
    within = [i for i, r in enumerate(rows) if r["intent"] in {"complaint", "question"}]
    return TaskResult(
        [
            Figure("intent accuracy (hand-written CX set)", metrics.accuracy(gold_intent, intent)),
            Figure("intent macro-F1 (hand-written CX set)", metrics.macro_f1(gold_intent, intent, intents)),
            Figure("urgency accuracy (hand-written CX set)", metrics.accuracy(gold_urgency, urgency)),
            Figure(
                "urgency accuracy within complaints and questions",
                metrics.accuracy([gold_urgency[i] for i in within], [urgency[i] for i in within]),
            ),
        ],
        {
            "rows": len(rows),
            "intent_f1": metrics.f1_by_class(gold_intent, intent, intents),
            "intent_predicted": {k: intent.count(k) for k in INTENTS},
            "urgency_recall": metrics.recall_by_class(gold_urgency, urgency, URGENCIES),
            "urgency_macro_f1": metrics.macro_f1(gold_urgency, urgency, URGENCIES),
        },
    )


def learning_curve_task(
    analyzer: MemoAnalyzer, tweets: Sequence[Tweet], *, folds: int = 5, run_folds: int | None = None, seed: int = 0
) -> TaskResult:
    """k-fold learning curve: a fresh TenantModel per fold and size vs. embeddings + logistic regression."""
    texts = [t.text for t in tweets]
    gold = np.array([SENTIMENTS.index(t.sentiment) for t in tweets])
    order = np.random.default_rng(seed).permutation(len(tweets))
    fold_of = np.empty(len(tweets), dtype=int)
    fold_of[order] = np.arange(len(tweets)) % folds
    vectors = analyzer.embed([clean_text(t) for t in texts])
    sizes: list[int | str] = [200, 500, "all"]
    tenant: dict[int | str, list[float]] = {s: [] for s in sizes}
    baseline: dict[int | str, list[float]] = {s: [] for s in sizes}
    seconds: list[float] = []
    for fold in range(run_folds or folds):
        test = np.flatnonzero(fold_of == fold)
        pool = np.flatnonzero(fold_of != fold)
        pool = pool[np.random.default_rng(seed + 1 + fold).permutation(len(pool))]
        test_inputs = [AnalysisInput(text=texts[i]) for i in test]
        for size in sizes:
            train = pool if size == "all" else pool[: int(size)]
            examples = [LabelExample(text=texts[i], sentiment=tweets[i].sentiment) for i in train]
            started = time.perf_counter()
            model = train_tenant_model(analyzer, examples)
            seconds.append(time.perf_counter() - started)
            results, _ = analyzer.analyze(test_inputs, DEFAULT_TAXONOMY, model)
            predicted = np.array([SENTIMENTS.index(r.sentiment.label) for r in results])
            tenant[size].append(float((predicted == gold[test]).mean()))
            # Plain logistic regression as usually run: raw embeddings, C = 1.
            lr = fit_linear(vectors[train], np.eye(3)[gold[train]], SENTIMENTS, l2=1.0, standardize=False)
            baseline[size].append(float((lr.predict_proba(vectors[test]).argmax(1) == gold[test]).mean()))
    figures = []
    for size in sizes:
        base = float(np.mean(baseline[size]))
        figures.append(
            Figure(
                f"tenant learning, {size} labels: accuracy",
                float(np.mean(tenant[size])),
                CURVE_TARGETS[size],
                note=f"embeddings + LR (C=1) on the same labels: {base:.3f}",
                beats=base,
            )
        )
    return TaskResult(
        figures,
        {
            "folds": folds,
            "folds_run": run_folds or folds,
            "tenant": {str(k): v for k, v in tenant.items()},
            "baseline_embeddings_lr": {str(k): v for k, v in baseline.items()},
            "train_seconds_max": round(max(seconds), 2),
        },
    )
