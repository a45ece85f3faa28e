"""Topic tagging against a taxonomy: embedding prototypes per topic, blended with keyword matches."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cxm_insight.nlp.cues import normalise
from cxm_insight.nlp.taxonomy import Taxonomy, Topic

# confidence = sigmoid(SLOPE * (cosine - CENTER) + KEYWORD_BONUS * keyword_hits); chosen on Bitext and Banking77
# utterances mapped to the default topics by their category names (see services/insight/tools/calibrate_topics.py).
SLOPE = 12.0
CENTER = 0.46
KEYWORD_BONUS = 2.4
MAX_KEYWORD_HITS = 2
THRESHOLD = 0.5
MAX_TOPICS_PER_TEXT = 3


@dataclass(frozen=True)
class TopicIndex:
    """A taxonomy made ready for scoring: one unit prototype vector and one keyword pattern per topic."""

    ids: tuple[str, ...]
    prototypes: np.ndarray
    keywords: tuple[re.Pattern[str] | None, ...]


def topic_prompts(topic: Topic) -> list[str]:
    """The texts whose embeddings make up a topic's prototype."""
    return [f"{topic.name}. {topic.description}".strip(), *topic.examples]


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern matching any of the keywords."""
    words = sorted({normalise(k).strip() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")(?!\w)")


def build_index(
    taxonomy: Taxonomy,
    embed: Callable[[list[str]], np.ndarray],
    learned: Mapping[str, tuple[np.ndarray, int]] | None = None,
) -> TopicIndex:
    """Prototypes from each topic's name, description and examples, blended with learned centroids if given.

    learned maps a topic id to (centroid of labelled texts' embeddings, number of labelled texts); the more labels,
    the more the centroid counts (n / (n + 5)).
    """
    prompts = [topic_prompts(t) for t in taxonomy.topics]
    flat = [p for group in prompts for p in group]
    vectors = embed(flat) if flat else np.zeros((0, 384), dtype=np.float32)
    prototypes = []
    start = 0
    for topic, group in zip(taxonomy.topics, prompts, strict=True):
        proto = vectors[start : start + len(group)].mean(axis=0)
        start += len(group)
        proto = proto / max(float(np.linalg.norm(proto)), 1e-12)
        if learned and topic.id in learned:
            centroid, count = learned[topic.id]
            share = count / (count + 5.0)
            proto = (1 - share) * proto + share * centroid / max(float(np.linalg.norm(centroid)), 1e-12)
            proto = proto / max(float(np.linalg.norm(proto)), 1e-12)
        prototypes.append(proto)
    matrix = np.vstack(prototypes).astype(np.float32) if prototypes else np.zeros((0, 384), dtype=np.float32)
    return TopicIndex(
        ids=tuple(t.id for t in taxonomy.topics),
        prototypes=matrix,
        keywords=tuple(keyword_pattern(t.keywords) for t in taxonomy.topics),
    )


def keyword_hits(index: TopicIndex, cleaned: str) -> np.ndarray:
    """How many distinct keywords of each topic occur in a cleaned text (capped), shape (topics,)."""
    lowered = normalise(cleaned)
    hits = np.zeros(len(index.ids), dtype=np.float32)
    for k, pattern in enumerate(index.keywords):
        if pattern is not None:
            hits[k] = min(len(set(pattern.findall(lowered))), MAX_KEYWORD_HITS)
    return hits


def topic_confidence(index: TopicIndex, embeddings: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
    """Confidence in [0, 1] that each text is about each topic, shape (n, topics)."""
    if not index.ids:
        return np.zeros((len(cleaned), 0), dtype=np.float32)
    cosine = embeddings @ index.prototypes.T
    hits = np.vstack([keyword_hits(index, text) for text in cleaned]) if cleaned else np.zeros_like(cosine)
    z = SLOPE * (cosine - CENTER) + KEYWORD_BONUS * hits
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=np.float32)


def pick_topics(confidence: np.ndarray, threshold: float = THRESHOLD) -> list[int]:
    """Indices of the topics above threshold, most confident first, at most MAX_TOPICS_PER_TEXT."""
    order = np.argsort(-confidence, kind="stable")
    return [int(k) for k in order[:MAX_TOPICS_PER_TEXT] if confidence[k] >= threshold]
