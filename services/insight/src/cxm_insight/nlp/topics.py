"""Topic detection: taxonomy prototypes (embedded descriptions and examples) blended with keyword matches."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.taxonomy import Taxonomy

# Confidence = sigmoid(SLOPE * (similarity - CENTRE) + KEYWORD_BOOST * keyword_hit).
SLOPE = 14.0
CENTRE = 0.42
KEYWORD_BOOST = 2.6
THRESHOLD = 0.5
MAX_TOPICS = 3


def keyword_pattern(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One case-insensitive regex matching any keyword as whole words."""
    parts = []
    for keyword in keywords:
        k = keyword.strip().lower()
        if not k:
            continue
        left = r"\b" if k[0].isalnum() else ""
        right = r"\b" if k[-1].isalnum() else ""
        parts.append(left + re.escape(k).replace(r"\ ", r"\s+") + right)
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


@dataclass(frozen=True)
class TopicIndex:
    """A taxonomy prepared for scoring: one unit prototype vector and keyword regex per topic."""

    ids: tuple[str, ...]
    prototypes: np.ndarray
    patterns: tuple[re.Pattern[str] | None, ...]

    @classmethod
    def build(cls, taxonomy: Taxonomy, encoder: Encoder) -> TopicIndex:
        """Embed each topic's name, description and examples; their normalised mean is its prototype."""
        texts: list[str] = []
        owners: list[int] = []
        for i, topic in enumerate(taxonomy.topics):
            own = [f"{topic.name}. {topic.description}".strip(" ."), *topic.examples]
            if topic.keywords:
                own.append(", ".join(topic.keywords[:12]))
            texts.extend(own)
            owners.extend([i] * len(own))
        vectors = encoder.encode(texts)
        prototypes = np.zeros((len(taxonomy.topics), vectors.shape[1]), dtype=np.float32)
        np.add.at(prototypes, np.asarray(owners), vectors)
        prototypes /= np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-12)
        patterns = tuple(keyword_pattern(t.keywords) for t in taxonomy.topics)
        return cls(tuple(t.id for t in taxonomy.topics), prototypes, patterns)

    def with_centroids(self, centroids: Mapping[str, tuple[np.ndarray, int]]) -> TopicIndex:
        """Blend labelled-example centroids (vector, count) into matching prototypes, more labels → more weight."""
        prototypes = self.prototypes.copy()
        for i, topic_id in enumerate(self.ids):
            if topic_id in centroids:
                vector, count = centroids[topic_id]
                alpha = count / (count + 5.0)
                blended = (1 - alpha) * prototypes[i] + alpha * vector
                prototypes[i] = blended / max(float(np.linalg.norm(blended)), 1e-12)
        return TopicIndex(self.ids, prototypes, self.patterns)

    def keyword_hits(self, texts: list[str]) -> np.ndarray:
        """(n, topics) 0/1 matrix of keyword matches."""
        hits = np.zeros((len(texts), len(self.ids)), dtype=np.float32)
        for j, pattern in enumerate(self.patterns):
            if pattern is None:
                continue
            for i, text in enumerate(texts):
                if text and pattern.search(text):
                    hits[i, j] = 1.0
        return hits

    def confidences(self, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        """(n, topics) confidence that each text is about each topic."""
        similarity = embeddings @ self.prototypes.T
        z = SLOPE * (similarity - CENTRE) + KEYWORD_BOOST * self.keyword_hits(texts)
        return np.asarray(1.0 / (1.0 + np.exp(-z)))


def pick_topics(confidence_row: np.ndarray) -> list[int]:
    """Indices of the topics to report for one text: above threshold, best first, at most MAX_TOPICS."""
    order = np.argsort(-confidence_row, kind="stable")
    return [int(j) for j in order[:MAX_TOPICS] if confidence_row[j] >= THRESHOLD]
