"""Learning from a tenant's labels: a sentiment head on top of the default model, and labelled topic centroids."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cxm_insight.nlp.analysis import SENTIMENTS
from cxm_insight.nlp.hashing import document_frequencies, idf_table, tfidf_rows
from cxm_insight.nlp.linear import LinearModel, fit_linear, softmax
from cxm_insight.nlp.text import clean_text, has_words

if TYPE_CHECKING:
    from cxm_insight.nlp.analyzer import Analyzer

FORMAT = 1
MIN_SENTIMENT_LABELS = 20
# The tenant head learns a correction to the default model's log-probabilities (a fixed offset), so with few
# labels it stays close to the default; strong L2 on the embedding part, weaker on the n-gram part.
DENSE_L2 = 100.0
SPARSE_L2 = 0.3
# A second, plain logistic regression on the raw embeddings (C = 3) is averaged with the correction head: the two
# err differently, and the average is about a point more accurate with a few hundred labels.
PLAIN_L2 = 1.0 / 3.0
PLAIN_SHARE = 0.5
MAX_ITER = 400
_EPS = 1e-4


@dataclass(frozen=True)
class LabelExample:
    """One text a person labelled: its sentiment and/or the topics it is about."""

    text: str
    sentiment: str | None = None
    topics: tuple[str, ...] = ()


class TenantModel:
    """What one tenant's labels taught: an optional sentiment head and per-topic centroids."""

    version: str

    def __init__(
        self,
        sentiment: LinearModel | None,
        idf_ids: np.ndarray,
        idf: np.ndarray,
        topic_centroids: dict[str, tuple[np.ndarray, int]],
        labels: int,
        plain: LinearModel | None = None,
    ) -> None:
        """Assemble a model; use train_tenant_model or TenantModel.from_bytes."""
        self.sentiment = sentiment
        self.plain = plain
        self.idf_ids = idf_ids
        self.idf = idf
        self.topic_centroids = topic_centroids
        self.labels = labels
        self.version = "tenant-" + hashlib.sha256(self.to_bytes()).hexdigest()[:12]

    def sentiment_proba(self, embeddings: np.ndarray, default: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
        """Sentiment probabilities (negative, neutral, positive) for texts, given the default model's."""
        if self.sentiment is None:
            return default
        classes = self.sentiment.classes
        z = self.sentiment.logits(embeddings, tfidf_rows(cleaned, self.idf_ids, self.idf))
        p = softmax(z + default_offset(default, classes))
        if self.plain is not None:
            p = (1 - PLAIN_SHARE) * p + PLAIN_SHARE * self.plain.predict_proba(embeddings)
        out = np.zeros((len(cleaned), len(SENTIMENTS)))
        for k, label in enumerate(self.sentiment.classes):
            out[:, SENTIMENTS.index(label)] = p[:, k]
        return out

    def to_bytes(self) -> bytes:
        """Serialise as an .npz of plain arrays and a JSON header (no pickle)."""
        meta = {
            "format": FORMAT,
            "labels": self.labels,
            "topics": {topic: count for topic, (_, count) in sorted(self.topic_centroids.items())},
            "sentiment_classes": list(self.sentiment.classes) if self.sentiment else None,
        }
        arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta, sort_keys=True))}
        if self.sentiment is not None:
            s = self.sentiment
            assert s.sparse_weights is not None
            arrays |= {
                "s.weights": s.weights,
                "s.bias": s.bias,
                "s.mean": s.mean,
                "s.scale": s.scale,
                "s.sparse": s.sparse_weights.astype(np.float16),
                "idf_ids": self.idf_ids.astype(np.int32),
                "idf": self.idf.astype(np.float16),
            }
        if self.plain is not None:
            arrays |= {"p.weights": self.plain.weights, "p.bias": self.plain.bias}
        for i, topic in enumerate(sorted(self.topic_centroids)):
            arrays[f"topic.{i}"] = self.topic_centroids[topic][0].astype(np.float32)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TenantModel:
        """Read a model written by to_bytes; raises ValueError for anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"unsupported tenant model format {meta.get('format')!r}")
                sentiment = None
                idf_ids, idf = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
                if meta["sentiment_classes"]:
                    sentiment = LinearModel(
                        classes=tuple(meta["sentiment_classes"]),
                        weights=z["s.weights"],
                        bias=z["s.bias"],
                        mean=z["s.mean"],
                        scale=z["s.scale"],
                        sparse_weights=z["s.sparse"].astype(np.float32),
                    )
                    idf_ids, idf = z["idf_ids"].astype(np.int64), z["idf"].astype(np.float32)
                plain = None
                if "p.weights" in z.files:
                    weights = z["p.weights"]
                    plain = LinearModel(
                        classes=tuple(meta["sentiment_classes"]),
                        weights=weights,
                        bias=z["p.bias"],
                        mean=np.zeros(weights.shape[0], dtype=np.float32),
                        scale=np.ones(weights.shape[0], dtype=np.float32),
                    )
                centroids = {
                    topic: (z[f"topic.{i}"], int(count)) for i, (topic, count) in enumerate(meta["topics"].items())
                }
        except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a tenant model: {exc}") from exc
        return cls(sentiment, idf_ids, idf, centroids, int(meta["labels"]), plain)


def default_offset(default: np.ndarray, classes: tuple[str, ...]) -> np.ndarray:
    """The default model's log-probabilities of the tenant's classes, the starting point of the tenant head."""
    columns = [SENTIMENTS.index(c) for c in classes]
    return np.log(np.clip(default[:, columns], _EPS, 1.0))


def train_tenant_model(analyzer: Analyzer, examples: Sequence[LabelExample]) -> TenantModel:
    """Fit a tenant's sentiment head (with enough labels of at least two classes) and topic centroids."""
    usable = [e for e in examples if has_words(clean_text(e.text))]
    cleaned = [clean_text(e.text) for e in usable]
    embeddings = analyzer.embed(cleaned) if cleaned else np.zeros((0, 384), dtype=np.float32)
    sentiment = plain = None
    idf_ids, idf = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    labelled = [i for i, e in enumerate(usable) if e.sentiment in SENTIMENTS]
    classes = tuple(s for s in SENTIMENTS if any(usable[i].sentiment == s for i in labelled))
    if len(labelled) >= MIN_SENTIMENT_LABELS and len(classes) >= 2:
        texts = [cleaned[i] for i in labelled]
        vectors = embeddings[labelled]
        default = analyzer.default_scores(vectors, texts).sentiment
        idf_ids, idf = idf_table(document_frequencies(texts), len(texts))
        y = np.array([classes.index(usable[i].sentiment or "") for i in labelled])
        sentiment = fit_linear(
            vectors,
            np.eye(len(classes))[y],
            classes,
            l2=DENSE_L2,
            sparse=tfidf_rows(texts, idf_ids, idf),
            sparse_l2=SPARSE_L2,
            offset=default_offset(default, classes),
            max_iter=MAX_ITER,
        )
        plain = fit_linear(vectors, np.eye(len(classes))[y], classes, l2=PLAIN_L2, standardize=False, max_iter=MAX_ITER)
    centroids: dict[str, tuple[np.ndarray, int]] = {}
    for topic in sorted({t for e in usable for t in e.topics}):
        rows = [i for i, e in enumerate(usable) if topic in e.topics]
        centroid = embeddings[rows].mean(axis=0)
        centroids[topic] = ((centroid / max(float(np.linalg.norm(centroid)), 1e-12)).astype(np.float32), len(rows))
    return TenantModel(sentiment, idf_ids, idf, centroids, labels=len(usable), plain=plain)
