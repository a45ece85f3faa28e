"""What the analyzer returns for one piece of feedback: plain, JSON-friendly dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SENTIMENTS = ("negative", "neutral", "positive")
EMOTIONS = ("anger", "frustration", "disappointment", "confusion", "joy", "gratitude")
INTENTS = ("complaint", "question", "praise", "suggestion", "churn_threat", "other")
URGENCIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class Sentiment:
    """A sentiment label, a signed score in [-1, 1] (P(positive) - P(negative)) and the label's probability."""

    label: str
    score: float
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"label": self.label, "score": round(self.score, 4), "confidence": round(self.confidence, 4)}


@dataclass(frozen=True)
class TopicHit:
    """A taxonomy topic the text is about, with the sentiment of the part that mentions it."""

    topic: str
    confidence: float
    sentiment: Sentiment
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "topic": self.topic,
            "confidence": round(self.confidence, 4),
            "sentiment": self.sentiment.to_dict(),
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class TextAnalysis:
    """Everything the models say about one piece of feedback."""

    sentiment: Sentiment
    emotions: dict[str, float]
    intent: str
    intent_scores: dict[str, float]
    urgency: str
    urgency_reason: str | None
    topics: tuple[TopicHit, ...]
    model_version: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "sentiment": self.sentiment.to_dict(),
            "emotions": {k: round(v, 4) for k, v in self.emotions.items()},
            "intent": self.intent,
            "intent_scores": {k: round(v, 4) for k, v in self.intent_scores.items()},
            "urgency": self.urgency,
            "urgency_reason": self.urgency_reason,
            "topics": [t.to_dict() for t in self.topics],
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class AnalysisInput:
    """One piece of feedback to analyse: its (redacted) text and any survey scores that came with it."""

    text: str | None
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
