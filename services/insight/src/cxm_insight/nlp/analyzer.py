"""The analyzer: one encoder pass per text, then sentiment, emotions, intent, urgency and taxonomy topics."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cxm_insight.nlp.analysis import (
    EMOTIONS,
    INTENTS,
    SENTIMENTS,
    AnalysisInput,
    Sentiment,
    TextAnalysis,
    TopicHit,
)
from cxm_insight.nlp.cues import matched
from cxm_insight.nlp.encoder import DIMENSIONS, Encoder
from cxm_insight.nlp.heads import Heads, base_features, load_heads
from cxm_insight.nlp.linear import softmax
from cxm_insight.nlp.paths import HEADS_FILE, MODELS_DIR
from cxm_insight.nlp.scores import score_sentiment
from cxm_insight.nlp.taxonomy import Taxonomy
from cxm_insight.nlp.text import clean_text, has_words, split_clauses
from cxm_insight.nlp.topics import TopicIndex, build_index, keyword_hits, pick_topics, topic_confidence
from cxm_insight.nlp.urgency import assess_urgency

if TYPE_CHECKING:
    from cxm_insight.nlp.learning import TenantModel

EVIDENCE_CHARS = 240
_INDEX_CACHE_SIZE = 32
# Logit nudges from unambiguous cues, on top of the intent head (which sees the same cues only as features).
_INTENT_NUDGES: dict[str, tuple[str, float]] = {
    "churn": ("churn_threat", 2.5),
    "suggestion": ("suggestion", 0.8),
    "question_mark": ("question", 0.6),
    "thanks": ("praise", 0.6),
}


@dataclass(frozen=True)
class DefaultScores:
    """The default heads' outputs for a batch of texts."""

    sentiment: np.ndarray
    emotions: np.ndarray
    intent: np.ndarray


class Analyzer:
    """Loads the encoder and the shipped heads once, then analyses batches of feedback deterministically."""

    model_version: str

    def __init__(self, encoder: Encoder, heads: Heads) -> None:
        """Wrap a loaded encoder and heads; use Analyzer.load."""
        self.encoder = encoder
        self.heads = heads
        self.model_version = f"{encoder.version}+{heads.version}"
        self._indexes: OrderedDict[tuple[object, ...], TopicIndex] = OrderedDict()

    @classmethod
    def load(cls, *, threads: int = 1) -> Analyzer:
        """Load the shipped encoder and heads (from the installed package; no network)."""
        return cls(Encoder.load(threads=threads), load_heads(MODELS_DIR / HEADS_FILE))

    def embed(self, cleaned: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of already-cleaned texts."""
        return self.encoder.encode(list(cleaned))

    def default_scores(self, embeddings: np.ndarray, cleaned: Sequence[str]) -> DefaultScores:
        """Sentiment (with the shipped prior), emotion and intent probabilities from the default heads."""
        x = base_features(embeddings, cleaned)
        sentiment = softmax(self.heads.sentiment.logits(x) + self.heads.sentiment_log_prior)
        emotions = self.heads.emotions.predict_proba(x)
        intent_logits = self.heads.intent.logits(x)
        for i, text in enumerate(cleaned):
            for cue in matched(text, *_INTENT_NUDGES):
                intent, bonus = _INTENT_NUDGES[cue]
                intent_logits[i, INTENTS.index(intent)] += bonus
        # Intent follows tone: a negative text is rarely praise, a positive one rarely a complaint, and a text with
        # a clear tone says something ("other" is for greetings, references and the like).
        tone = sentiment[:, SENTIMENTS.index("positive")] - sentiment[:, SENTIMENTS.index("negative")]
        intent_logits[:, INTENTS.index("praise")] += 1.5 * tone
        intent_logits[:, INTENTS.index("complaint")] -= 1.5 * tone
        intent_logits[:, INTENTS.index("other")] -= 1.5 * np.abs(tone)
        return DefaultScores(sentiment, emotions, softmax(intent_logits))

    def topic_index(self, taxonomy: Taxonomy, tenant: TenantModel | None = None) -> TopicIndex:
        """The taxonomy's prototypes (blended with the tenant's labelled centroids), cached per process."""
        key = (taxonomy, tenant.version if tenant else None, id(tenant) if tenant else None)
        index = self._indexes.get(key)
        if index is None:
            learned = tenant.topic_centroids if tenant else None
            index = build_index(taxonomy, lambda texts: self.embed([clean_text(t) for t in texts]), learned)
            self._indexes[key] = index
            while len(self._indexes) > _INDEX_CACHE_SIZE:
                self._indexes.popitem(last=False)
        else:
            self._indexes.move_to_end(key)
        return index

    def analyze(
        self, items: Sequence[AnalysisInput], taxonomy: Taxonomy, tenant: TenantModel | None = None
    ) -> tuple[list[TextAnalysis], np.ndarray]:
        """Analyse items; return the analyses and the text embeddings (a zero row for an item without words)."""
        cleaned = [clean_text(item.text) for item in items]
        worded = [i for i, text in enumerate(cleaned) if has_words(text)]
        embeddings = np.zeros((len(items), DIMENSIONS), dtype=np.float32)
        results: list[TextAnalysis | None] = [None] * len(items)
        if worded:
            texts = [cleaned[i] for i in worded]
            vectors = self.embed(texts)
            embeddings[worded] = vectors
            scores = self.default_scores(vectors, texts)
            sentiment = tenant.sentiment_proba(vectors, scores.sentiment, texts) if tenant else scores.sentiment
            index = self.topic_index(taxonomy, tenant)
            confidence = topic_confidence(index, vectors, texts)
            aspects = self._aspect_sentiments(index, texts, confidence, tenant)
            for row, i in enumerate(worded):
                results[i] = self._one(
                    texts[row], sentiment[row], scores.emotions[row], scores.intent[row], index, confidence[row],
                    aspects.get(row, {}),
                )  # fmt: skip
        for i, item in enumerate(items):
            if results[i] is None:
                results[i] = self._scores_only(item)
        return [r for r in results if r is not None], embeddings

    def _one(
        self,
        text: str,
        sentiment_p: np.ndarray,
        emotion_p: np.ndarray,
        intent_p: np.ndarray,
        index: TopicIndex,
        confidence: np.ndarray,
        aspects: dict[int, tuple[Sentiment, str]],
    ) -> TextAnalysis:
        """The analysis of one worded text from its scores."""
        sentiment = to_sentiment(sentiment_p)
        emotions = {e: float(emotion_p[k]) for k, e in enumerate(EMOTIONS)}
        intent_scores = {name: float(intent_p[k]) for k, name in enumerate(INTENTS)}
        intent = INTENTS[int(np.argmax(intent_p))]
        urgency, reason = assess_urgency(text, sentiment.label, intent, emotions)
        hits = []
        for k in pick_topics(confidence):
            topic_sentiment, evidence = aspects.get(k, (sentiment, evidence_for(index, k, text)))
            hits.append(TopicHit(index.ids[k], float(confidence[k]), topic_sentiment, evidence))
        return TextAnalysis(
            sentiment=sentiment,
            emotions=emotions,
            intent=intent,
            intent_scores=intent_scores,
            urgency=urgency,
            urgency_reason=reason,
            topics=tuple(hits),
            model_version=self.model_version,
        )

    def _aspect_sentiments(
        self, index: TopicIndex, texts: list[str], confidence: np.ndarray, tenant: TenantModel | None
    ) -> dict[int, dict[int, tuple[Sentiment, str]]]:
        """Per-topic sentiment and evidence for texts that mention several topics in several clauses.

        Texts with one topic (most of them) reuse the whole-text sentiment, so only these pay for a second pass.
        """
        jobs: list[tuple[int, list[int], list[str]]] = []
        for row, text in enumerate(texts):
            topics = pick_topics(confidence[row])
            if len(topics) > 1:
                clauses = split_clauses(text)
                if len(clauses) > 1:
                    jobs.append((row, topics, clauses))
        if not jobs:
            return {}
        flat = [clause for _, _, clauses in jobs for clause in clauses]
        vectors = self.embed(flat)
        scores = self.default_scores(vectors, flat)
        sentiment = tenant.sentiment_proba(vectors, scores.sentiment, flat) if tenant else scores.sentiment
        clause_confidence = topic_confidence(index, vectors, flat)
        out: dict[int, dict[int, tuple[Sentiment, str]]] = {}
        start = 0
        for row, topics, clauses in jobs:
            span = slice(start, start + len(clauses))
            start += len(clauses)
            per_topic = {}
            for k in topics:
                best = span.start + int(np.argmax(clause_confidence[span, k]))
                per_topic[k] = (to_sentiment(sentiment[best]), truncate(flat[best]))
            out[row] = per_topic
        return out

    def _scores_only(self, item: AnalysisInput) -> TextAnalysis:
        """The analysis of feedback without words: sentiment from its scores, nothing else."""
        return TextAnalysis(
            sentiment=score_sentiment(item.nps, item.csat, item.ces),
            emotions={e: 0.0 for e in EMOTIONS},
            intent="other",
            intent_scores={name: float(name == "other") for name in INTENTS},
            urgency="low",
            urgency_reason=None,
            topics=(),
            model_version=self.model_version,
        )


def to_sentiment(p: np.ndarray) -> Sentiment:
    """A Sentiment from (negative, neutral, positive) probabilities."""
    k = int(np.argmax(p))
    score = float(p[SENTIMENTS.index("positive")] - p[SENTIMENTS.index("negative")])
    return Sentiment(SENTIMENTS[k], max(-1.0, min(1.0, score)), float(p[k]))


def evidence_for(index: TopicIndex, k: int, text: str) -> str:
    """The clause of text that names topic k by keyword, else the start of the text."""
    clauses = split_clauses(text)
    if len(clauses) > 1:
        for clause in clauses:
            if keyword_hits(index, clause)[k] > 0:
                return truncate(clause)
    return truncate(text)


def truncate(text: str) -> str:
    """Text cut to EVIDENCE_CHARS at a word boundary, with an ellipsis when cut."""
    if len(text) <= EVIDENCE_CHARS:
        return text
    return text[:EVIDENCE_CHARS].rsplit(" ", 1)[0] + "…"
