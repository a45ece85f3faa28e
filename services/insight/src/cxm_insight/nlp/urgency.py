"""Urgency of a piece of feedback, decided from its cues, intent, sentiment and emotions (pure rules)."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from cxm_insight.nlp.analysis import Sentiment


def decide_urgency(
    cues: Collection[str], intent: str, sentiment: Sentiment, emotions: Mapping[str, float]
) -> tuple[str, str | None]:
    """Return (low|medium|high|critical, reason); the reason is None for low urgency."""
    negative = sentiment.label == "negative"
    if "safety" in cues and (negative or intent in ("complaint", "churn_threat")):
        return "critical", "safety or health risk mentioned"
    if "security" in cues and intent != "question":
        return "critical", "fraud, hacking or unauthorised use reported"
    if "legal" in cues and negative:
        return "critical", "legal action or regulator threatened"
    if intent == "churn_threat":
        return "high", "customer threatens to leave"
    if "security" in cues:
        return "high", "question about fraud or account security"
    if negative and "urgent" in cues:
        return "high", "time-critical problem"
    anger = max(emotions.get("anger", 0.0), emotions.get("frustration", 0.0))
    if negative and ("money" in cues or "refund" in cues) and ("still_waiting" in cues or "again" in cues):
        return "high", "money owed and the problem persists"
    if negative and sentiment.confidence >= 0.8 and anger >= 0.6:
        return "high", "strong anger or frustration"
    if negative or intent == "complaint":
        return "medium", "complaint"
    if "urgent" in cues and intent == "question":
        return "medium", "time-sensitive question"
    return "low", None
