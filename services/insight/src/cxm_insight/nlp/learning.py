"""Learning from a tenant's labels: a stacked sentiment model on top of the default one, and topic centroids."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cxm_insight.nlp.analysis import SENTIMENTS
from cxm_insight.nlp.cues import cue_matrix
from cxm_insight.nlp.hashing import char_gram_ids, word_gram_ids
from cxm_insight.nlp.linear import lbfgs, softmax
from cxm_insight.nlp.naive_bayes import NaiveBayes, fit_naive_bayes
from cxm_insight.nlp.ridge import Ridge, fit_ridge
from cxm_insight.nlp.text import clean_text, has_words

if TYPE_CHECKING:
    from cxm_insight.nlp.analyzer import Analyzer

FORMAT = 2
MIN_SENTIMENT_LABELS = 20
# Naive Bayes smoothing of the two lexical models (word uni/bigrams; words and character 3-5-grams).
NB_ALPHA = 0.3
# The stacker learns one weight per base model and a bias per class; a light L2 keeps the weights finite when a
# base model separates a tiny label set perfectly.
STACK_L2 = 1.0
BASE_MODELS = ("ridge", "words", "chars", "default")
_EPS = 1e-4


@dataclass(frozen=True)
class LabelExample:
    """One text a person labelled: its sentiment and/or the topics it is about."""

    text: str
    sentiment: str | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class StackedSentiment:
    """Four views of a text's sentiment, weighted by a stacker fitted on honest (leave-one-out) training scores.

    ridge: ridge regression over the embedding and the cue features; words, chars: naive Bayes over hashed
    n-grams; default: the shipped model's log-probabilities. The class biases carry the tenant's class mix.
    """

    classes: tuple[str, ...]
    ridge: Ridge
    words: NaiveBayes
    chars: NaiveBayes
    weights: np.ndarray
    bias: np.ndarray

    def base_scores(self, embeddings: np.ndarray, default: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
        """Each base model's class scores, shape (n, base models, classes)."""
        return np.stack(
            [
                self.ridge.scores(features(embeddings, cleaned)),
                self.words.scores([word_gram_ids(t) for t in cleaned]),
                self.chars.scores([char_gram_ids(t) for t in cleaned]),
                default_offset(default, self.classes),
            ],
            axis=1,
        )

    def proba(self, embeddings: np.ndarray, default: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
        """Probabilities over the tenant's classes."""
        return softmax(stack_logits(self.base_scores(embeddings, default, cleaned), self.weights, self.bias))


class TenantModel:
    """What one tenant's labels taught: an optional sentiment model and per-topic centroids."""

    version: str

    def __init__(
        self, sentiment: StackedSentiment | None, topic_centroids: dict[str, tuple[np.ndarray, int]], labels: int
    ) -> None:
        """Assemble a model; use train_tenant_model or TenantModel.from_bytes."""
        self.sentiment = sentiment
        self.topic_centroids = topic_centroids
        self.labels = labels
        self.version = "tenant-" + hashlib.sha256(self.to_bytes()).hexdigest()[:12]

    def sentiment_proba(self, embeddings: np.ndarray, default: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
        """Sentiment probabilities (negative, neutral, positive) for texts, given the default model's."""
        if self.sentiment is None:
            return default
        p = self.sentiment.proba(embeddings, default, cleaned)
        out = np.zeros((len(cleaned), len(SENTIMENTS)))
        for k, label in enumerate(self.sentiment.classes):
            out[:, SENTIMENTS.index(label)] = p[:, k]
        return out

    def to_bytes(self) -> bytes:
        """Serialise as an .npz of plain arrays and a JSON header (no pickle)."""
        s = self.sentiment
        meta = {
            "format": FORMAT,
            "labels": self.labels,
            "topics": {topic: count for topic, (_, count) in sorted(self.topic_centroids.items())},
            "sentiment_classes": list(s.classes) if s else None,
            "ridge_penalty": s.ridge.penalty if s else None,
            "nb_alpha": [s.words.alpha, s.chars.alpha] if s else None,
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta, sort_keys=True))}
        if s is not None:
            arrays |= {
                "ridge.mean": s.ridge.mean,
                "ridge.weights": s.ridge.weights,
                "ridge.intercept": s.ridge.intercept,
                "words.ids": s.words.ids.astype(np.int32),
                "words.counts": s.words.counts.astype(np.uint32),
                "chars.ids": s.chars.ids.astype(np.int32),
                "chars.counts": s.chars.counts.astype(np.uint32),
                "stack.weights": s.weights.astype(np.float64),
                "stack.bias": s.bias.astype(np.float64),
            }
        for i, topic in enumerate(sorted(self.topic_centroids)):
            arrays[f"topic.{i}"] = self.topic_centroids[topic][0].astype(np.float32)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TenantModel:
        """Read a model written by to_bytes; raises ValueError for anything else (an older format included)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"unsupported tenant model format {meta.get('format')!r}")
                sentiment = None
                if meta["sentiment_classes"]:
                    words_alpha, chars_alpha = meta["nb_alpha"]
                    sentiment = StackedSentiment(
                        classes=tuple(meta["sentiment_classes"]),
                        ridge=Ridge(
                            z["ridge.mean"], z["ridge.weights"], z["ridge.intercept"], float(meta["ridge_penalty"])
                        ),
                        words=NaiveBayes(
                            z["words.ids"].astype(np.int64), z["words.counts"].astype(np.float64), float(words_alpha)
                        ),
                        chars=NaiveBayes(
                            z["chars.ids"].astype(np.int64), z["chars.counts"].astype(np.float64), float(chars_alpha)
                        ),
                        weights=z["stack.weights"],
                        bias=z["stack.bias"],
                    )
                centroids = {
                    topic: (z[f"topic.{i}"], int(count)) for i, (topic, count) in enumerate(meta["topics"].items())
                }
        except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a tenant model: {exc}") from exc
        return cls(sentiment, centroids, int(meta["labels"]))


def features(embeddings: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
    """The ridge model's input: the embedding followed by the lexical cue features."""
    return np.hstack([embeddings, cue_matrix(cleaned)]).astype(np.float64)


def default_offset(default: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """The default model's log-probabilities of the tenant's classes."""
    columns = [SENTIMENTS.index(c) for c in classes]
    return np.log(np.clip(default[:, columns], _EPS, 1.0))


def stack_logits(scores: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Σ_m weight_m · scores[:, m] + bias, for scores of shape (n, base models, classes)."""
    return np.asarray(np.einsum("nmk,m->nk", scores, weights) + bias)


def fit_stack(scores: np.ndarray, targets: np.ndarray, l2: float = STACK_L2) -> tuple[np.ndarray, np.ndarray]:
    """Fit one weight per base model and one bias per class by L2-regularised multinomial log-loss."""
    n, m, k = scores.shape

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean log-loss plus (l2 / 2n)·|weights|², and its gradient."""
        weights, bias = theta[:m], theta[m:]
        z = stack_logits(scores, weights, bias)
        z = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
        g = (np.exp(z - log_norm) - targets) / n
        value = float(-(targets * (z - log_norm)).sum() / n + 0.5 * l2 / n * (weights * weights).sum())
        grad_weights = np.einsum("nmk,nk->m", scores, g) + l2 / n * weights
        return value, np.concatenate([grad_weights, g.sum(axis=0)])

    theta = lbfgs(objective, np.zeros(m + k), max_iter=300)
    return theta[:m], theta[m:]


def fit_sentiment(
    embeddings: np.ndarray, default: np.ndarray, cleaned: Sequence[str], y: np.ndarray, classes: tuple[str, ...]
) -> StackedSentiment:
    """Fit the base models, score the training texts leave-one-out, and fit the stacker on those scores."""
    targets = np.eye(len(classes))[y]
    ridge, ridge_loo = fit_ridge(features(embeddings, cleaned), targets)
    words, words_loo = fit_naive_bayes([word_gram_ids(t) for t in cleaned], y, len(classes), NB_ALPHA)
    chars, chars_loo = fit_naive_bayes([char_gram_ids(t) for t in cleaned], y, len(classes), NB_ALPHA)
    scores = np.stack([ridge_loo, words_loo, chars_loo, default_offset(default, classes)], axis=1)
    weights, bias = fit_stack(scores, targets)
    return StackedSentiment(classes, ridge, words, chars, weights, bias)


def train_tenant_model(analyzer: Analyzer, examples: Sequence[LabelExample]) -> TenantModel:
    """Fit a tenant's sentiment model (with enough labels of at least two classes) and topic centroids."""
    usable = [e for e in examples if has_words(clean_text(e.text))]
    cleaned = [clean_text(e.text) for e in usable]
    embeddings = analyzer.embed(cleaned) if cleaned else np.zeros((0, 384), dtype=np.float32)
    sentiment = None
    labelled = [i for i, e in enumerate(usable) if e.sentiment in SENTIMENTS]
    classes = tuple(s for s in SENTIMENTS if any(usable[i].sentiment == s for i in labelled))
    if len(labelled) >= MIN_SENTIMENT_LABELS and len(classes) >= 2:
        texts = [cleaned[i] for i in labelled]
        vectors = embeddings[labelled]
        default = analyzer.default_scores(vectors, texts).sentiment
        y = np.array([classes.index(usable[i].sentiment or "") for i in labelled])
        sentiment = fit_sentiment(vectors, default, texts, y, classes)
    centroids: dict[str, tuple[np.ndarray, int]] = {}
    for topic in sorted({t for e in usable for t in e.topics}):
        rows = [i for i, e in enumerate(usable) if topic in e.topics]
        centroid = embeddings[rows].mean(axis=0)
        centroids[topic] = ((centroid / max(float(np.linalg.norm(centroid)), 1e-12)).astype(np.float32), len(rows))
    return TenantModel(sentiment, centroids, labels=len(usable))
