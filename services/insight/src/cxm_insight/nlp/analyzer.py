"""The analyzer: one call turns feedback items into sentiment, emotions, intent, urgency and topics."""

from __future__ import annotations

from collections.abc import Sequence
from threading import Lock

import numpy as np

from cxm_insight.nlp.analysis import EMOTIONS, INTENTS, SENTIMENTS, AnalysisInput, Sentiment, TextAnalysis, TopicHit
from cxm_insight.nlp.cues import matched_cues
from cxm_insight.nlp.encoder import DIMENSIONS, Encoder
from cxm_insight.nlp.heads import base_features, load_heads
from cxm_insight.nlp.learning import TenantModel
from cxm_insight.nlp.linear import LinearModel, softmax
from cxm_insight.nlp.paths import HEADS_FILE, MODELS_DIR
from cxm_insight.nlp.scores import score_sentiment
from cxm_insight.nlp.taxonomy import Taxonomy
from cxm_insight.nlp.text import clean_text, has_words, split_sentences
from cxm_insight.nlp.topics import TopicIndex, pick_topics
from cxm_insight.nlp.urgency import decide_urgency

_SHARED: dict[int, Analyzer] = {}
_SHARED_LOCK = Lock()


def sentiment_from_proba(proba: np.ndarray) -> Sentiment:
    """A Sentiment from (negative, neutral, positive) probabilities: score = p(positive) - p(negative)."""
    k = int(np.argmax(proba))
    return Sentiment(SENTIMENTS[k], float(proba[2] - proba[0]), float(proba[k]))


class Analyzer:
    """Loads the encoder and the shipped heads once, then analyses batches of feedback deterministically."""

    model_version: str

    def __init__(self, encoder: Encoder, heads: dict[str, LinearModel], extras: dict[str, np.ndarray]) -> None:
        """Wrap loaded models; use Analyzer.load instead."""
        self.encoder = encoder
        self._sentiment = heads["sentiment"]
        self._emotions = heads["emotions"]
        self._intent = heads["intent"]
        self._log_prior = np.asarray(extras["sentiment_log_prior"], dtype=np.float64)
        self.model_version = f"{encoder.version}+{extras['version']}"
        self._topic_indexes: dict[Taxonomy, TopicIndex] = {}

    @classmethod
    def load(cls, *, threads: int = 1) -> Analyzer:
        """The process-wide analyzer for this thread count (loaded on first use)."""
        with _SHARED_LOCK:
            if threads not in _SHARED:
                heads, extras = load_heads(MODELS_DIR / HEADS_FILE)
                _SHARED[threads] = cls(Encoder.load(threads=threads), heads, extras)
            return _SHARED[threads]

    def embed(self, cleaned_texts: Sequence[str]) -> np.ndarray:
        """Embeddings of already-cleaned texts."""
        return self.encoder.encode(list(cleaned_texts))

    def default_sentiment_proba(self, embeddings: np.ndarray, cleaned_texts: Sequence[str]) -> np.ndarray:
        """(n, 3) default-model sentiment probabilities, with the CX class prior applied."""
        features = base_features(embeddings, list(cleaned_texts))
        return softmax(self._sentiment.logits(features) + self._log_prior)

    def topic_index(self, taxonomy: Taxonomy) -> TopicIndex:
        """The prepared index of a taxonomy, built once and kept (taxonomies are immutable)."""
        index = self._topic_indexes.get(taxonomy)
        if index is None:
            index = TopicIndex.build(taxonomy, self.encoder)
            if len(self._topic_indexes) > 64:
                self._topic_indexes.clear()
            self._topic_indexes[taxonomy] = index
        return index

    def analyze(
        self, items: Sequence[AnalysisInput], taxonomy: Taxonomy, tenant: TenantModel | None = None
    ) -> tuple[list[TextAnalysis], np.ndarray]:
        """Analyse items; also return their (n, 384) embeddings (a zero row for an item without text)."""
        cleaned = [clean_text(item.text) for item in items]
        texted = [i for i, text in enumerate(cleaned) if has_words(text)]
        embeddings = np.zeros((len(items), DIMENSIONS), dtype=np.float32)
        results: list[TextAnalysis | None] = [None] * len(items)
        version = self.model_version if tenant is None else f"{self.model_version}+{tenant.version}"
        if texted:
            texts = [cleaned[i] for i in texted]
            emb = self.encoder.encode(texts)
            embeddings[texted] = emb
            for position, analysis in enumerate(self._analyze_texts(texts, emb, taxonomy, tenant, version)):
                results[texted[position]] = analysis
        for i, item in enumerate(items):
            if results[i] is None:
                results[i] = self._score_only(item, version)
        return [r for r in results if r is not None], embeddings

    def _sentiment_proba(
        self, emb: np.ndarray, features: np.ndarray, texts: list[str], tenant: TenantModel | None
    ) -> np.ndarray:
        """Sentiment probabilities, from the tenant head when there is one."""
        proba = softmax(self._sentiment.logits(features) + self._log_prior)
        if tenant is not None:
            tuned = tenant.sentiment_proba(emb, proba, texts)
            if tuned is not None:
                return tuned
        return proba

    def _analyze_texts(
        self, texts: list[str], emb: np.ndarray, taxonomy: Taxonomy, tenant: TenantModel | None, version: str
    ) -> list[TextAnalysis]:
        """Analyses of texts that have words."""
        features = base_features(emb, texts)
        sentiment_p = self._sentiment_proba(emb, features, texts, tenant)
        emotion_p = self._emotions.predict_proba(features)
        intent_p = self._intent.predict_proba(features)
        index = self.topic_index(taxonomy)
        if tenant is not None and tenant.topic_centroids:
            index = index.with_centroids(tenant.topic_centroids)
        topic_conf = index.confidences(emb, texts)
        picked = [pick_topics(row) for row in topic_conf]
        aspects = self._aspect_sentiments(texts, picked, index, tenant)
        out = []
        for i, text in enumerate(texts):
            sentiment = sentiment_from_proba(sentiment_p[i])
            emotions = {name: float(emotion_p[i, EMOTIONS.index(name)]) for name in EMOTIONS}
            intent_scores = {name: float(intent_p[i, INTENTS.index(name)]) for name in INTENTS}
            cues = matched_cues(text)
            intent = max(INTENTS, key=lambda name: intent_scores[name])
            urgency, reason = decide_urgency(cues, intent, sentiment, emotions)
            hits = []
            for j in picked[i]:
                aspect = aspects.get((i, j))
                hits.append(
                    TopicHit(
                        topic=index.ids[j],
                        confidence=float(topic_conf[i, j]),
                        sentiment=aspect[0] if aspect else sentiment,
                        evidence=aspect[1] if aspect else _evidence(text, index, j),
                    )
                )
            out.append(TextAnalysis(sentiment, emotions, intent, intent_scores, urgency, reason, tuple(hits), version))
        return out

    def _aspect_sentiments(
        self, texts: list[str], picked: list[list[int]], index: TopicIndex, tenant: TenantModel | None
    ) -> dict[tuple[int, int], tuple[Sentiment, str]]:
        """Per-topic sentiment and evidence for texts that mention several topics (clause by clause)."""
        owners: list[tuple[int, list[int]]] = []
        clauses: list[str] = []
        for i, topics in enumerate(picked):
            if len(topics) < 2:
                continue
            parts = split_sentences(texts[i])
            if len(parts) < 2:
                continue
            owners.append((i, topics))
            clauses.extend(parts)
        if not clauses:
            return {}
        emb = self.encoder.encode(clauses)
        proba = self._sentiment_proba(emb, base_features(emb, clauses), clauses, tenant)
        conf = index.confidences(emb, clauses)
        found: dict[tuple[int, int], tuple[Sentiment, str]] = {}
        start = 0
        for i, topics in owners:
            n = len(split_sentences(texts[i]))
            block = slice(start, start + n)
            for j in topics:
                best = start + int(np.argmax(conf[block, j]))
                found[(i, j)] = (sentiment_from_proba(proba[best]), clauses[best])
            start += n
        return found

    def _score_only(self, item: AnalysisInput, version: str) -> TextAnalysis:
        """Analysis of an item without words: sentiment from its scores, nothing else."""
        sentiment = score_sentiment(item.nps, item.csat, item.ces)
        emotions = {name: 0.0 for name in EMOTIONS}
        intent_scores = {name: (1.0 if name == "other" else 0.0) for name in INTENTS}
        return TextAnalysis(sentiment, emotions, "other", intent_scores, "low", None, (), version)


def _evidence(text: str, index: TopicIndex, j: int) -> str:
    """The clause that names the topic's keywords, else the first clause; at most 300 characters."""
    pattern = index.patterns[j]
    parts = split_sentences(text)
    chosen = next((p for p in parts if pattern is not None and pattern.search(p)), parts[0])
    return chosen[:300]
