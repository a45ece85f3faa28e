"""Learning from a tenant's own labels: a tenant sentiment head and tenant topic prototypes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from cxm_insight.nlp.analysis import SENTIMENTS
from cxm_insight.nlp.hashing import fit_idf, term_counts, tfidf_rows
from cxm_insight.nlp.heads import heads_from_bytes, heads_to_bytes
from cxm_insight.nlp.linear import LinearModel, fit_linear
from cxm_insight.nlp.text import clean_text

if TYPE_CHECKING:
    from cxm_insight.nlp.analyzer import Analyzer

FORMAT = "cxm-tenant-model-1"
L2_DENSE = 4.0
L2_SPARSE = 0.5
# Class weights ∝ count^-BALANCE: 1 is fully balanced, 0 keeps the tenant's own class mix.
BALANCE = 0.5
MIN_SENTIMENT_LABELS = 10


@dataclass(frozen=True)
class LabelExample:
    """One piece of feedback a tenant labelled: its sentiment and/or the topics it is about."""

    text: str
    sentiment: str | None = None
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class TenantModel:
    """What was learnt from one tenant's labels; applied on top of the default models."""

    version: str
    sentiment: LinearModel | None = None
    idf: np.ndarray | None = None
    topic_centroids: Mapping[str, tuple[np.ndarray, int]] = field(default_factory=dict)

    def sentiment_proba(
        self, embeddings: np.ndarray, default_proba: np.ndarray, cleaned_texts: Sequence[str]
    ) -> np.ndarray | None:
        """Tenant sentiment probabilities (negative, neutral, positive), or None without a sentiment head."""
        if self.sentiment is None or self.idf is None:
            return None
        dense = tenant_features(embeddings, default_proba)
        sparse = tfidf_rows(term_counts(cleaned_texts), self.idf)
        proba = self.sentiment.predict_proba(dense, sparse)
        out = np.zeros((len(embeddings), len(SENTIMENTS)))
        for j, label in enumerate(self.sentiment.classes):
            out[:, SENTIMENTS.index(label)] = proba[:, j]
        return out

    def to_bytes(self) -> bytes:
        """Serialise as .npz bytes (no pickle)."""
        heads = {"sentiment": self.sentiment} if self.sentiment is not None else {}
        topic_ids = sorted(self.topic_centroids)
        extras: dict[str, np.ndarray] = {
            "meta": np.array(json.dumps({"format": FORMAT, "version": self.version, "topics": topic_ids})),
            "topic_vectors": np.stack([self.topic_centroids[t][0] for t in topic_ids]).astype(np.float32)
            if topic_ids
            else np.zeros((0, 0), dtype=np.float32),
            "topic_counts": np.array([self.topic_centroids[t][1] for t in topic_ids], dtype=np.int64),
        }
        if self.idf is not None:
            extras["idf"] = self.idf
        return heads_to_bytes(heads, extras)

    @classmethod
    def from_bytes(cls, data: bytes) -> TenantModel:
        """Read a model written by to_bytes."""
        heads, extras = heads_from_bytes(data)
        meta = json.loads(str(extras["meta"]))
        if meta.get("format") != FORMAT:
            raise ValueError(f"not a tenant model of format {FORMAT}")
        vectors, counts = extras["topic_vectors"], extras["topic_counts"]
        centroids = {t: (vectors[i], int(counts[i])) for i, t in enumerate(meta["topics"])}
        return cls(meta["version"], heads.get("sentiment"), extras.get("idf"), centroids)


def tenant_features(embeddings: np.ndarray, default_proba: np.ndarray) -> np.ndarray:
    """Dense tenant-head input: the embedding and the default model's log-probabilities."""
    return np.hstack([embeddings, np.log(np.clip(default_proba, 1e-4, 1.0))]).astype(np.float32)


def fit_tenant_model(
    embeddings: np.ndarray,
    default_proba: np.ndarray,
    cleaned_texts: Sequence[str],
    examples: Sequence[LabelExample],
) -> TenantModel:
    """Fit a tenant model from precomputed embeddings and default sentiment probabilities of the examples."""
    labelled = [i for i, e in enumerate(examples) if e.sentiment in SENTIMENTS]
    sentiment: LinearModel | None = None
    idf: np.ndarray | None = None
    present = sorted({examples[i].sentiment for i in labelled}, key=lambda s: SENTIMENTS.index(str(s)))
    if len(labelled) >= MIN_SENTIMENT_LABELS and len(present) >= 2:
        index = np.asarray(labelled)
        classes = tuple(str(s) for s in present)
        y = np.array([classes.index(str(examples[i].sentiment)) for i in labelled])
        counts = term_counts([cleaned_texts[i] for i in labelled])
        idf = fit_idf(counts)
        sparse = tfidf_rows(counts, idf)
        dense = tenant_features(embeddings[index], default_proba[index])
        class_counts = np.bincount(y, minlength=len(classes)).astype(np.float64)
        weights = (class_counts**-BALANCE)[y]
        sentiment = fit_linear(
            dense,
            np.eye(len(classes))[y],
            classes,
            l2=L2_DENSE,
            sample_weight=weights,
            sparse=sparse,
            l2_sparse=L2_SPARSE,
            max_iter=200,
        )
    sums: dict[str, np.ndarray] = {}
    totals: dict[str, int] = {}
    for i, example in enumerate(examples):
        for topic in example.topics:
            sums[topic] = sums.get(topic, 0) + embeddings[i]
            totals[topic] = totals.get(topic, 0) + 1
    centroids = {t: (v / max(float(np.linalg.norm(v)), 1e-12), totals[t]) for t, v in sums.items()}
    digest = hashlib.sha256(
        "\x00".join(f"{e.text}\x01{e.sentiment}\x01{','.join(e.topics)}" for e in examples).encode()
    ).hexdigest()[:12]
    return TenantModel(f"tenant-{len(examples)}-{digest}", sentiment, idf, centroids)


def train_tenant_model(analyzer: Analyzer, examples: Sequence[LabelExample]) -> TenantModel:
    """Train a tenant model from labelled examples, using the analyzer's encoder and default sentiment head."""
    cleaned = [clean_text(e.text) for e in examples]
    embeddings = analyzer.embed(cleaned)
    default_proba = analyzer.default_sentiment_proba(embeddings, cleaned)
    return fit_tenant_model(embeddings, default_proba, cleaned, examples)
