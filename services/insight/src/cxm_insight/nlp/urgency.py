"""How soon the company should act on a piece of feedback: rules over the text, its intent and its emotions."""

from __future__ import annotations

import re
from collections.abc import Mapping

from cxm_insight.nlp.cues import normalise

# Each rule: (level, reason, pattern). The highest level that matches wins; the first reason at that level is kept.
_RULES: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (level, reason, re.compile(pattern))
    for level, reason, pattern in (
        (
            "critical",
            "safety or health risk",
            r"\b(?:unsafe|danger\w*|injur\w*|hurt|bleeding|fire|smoke|gas leak|smell of gas|carbon monoxide"
            r"|allerg\w*|anaphyla\w*|epipen|medication|medicine|insulin|oxygen|life support|medical equipment"
            r"|hospital|ambulance|poison\w*|food poisoning|unsafe water|drunk driv\w*|dangerous driving|assault\w*)\b",
        ),
        (
            "critical",
            "legal or regulatory threat",
            r"\b(?:lawyer|lawyers|solicitor|attorney|legal action|sue|suing|lawsuit|court|small claims|ombudsman"
            r"|regulator|trading standards|consumer protection|police|fca|ofcom|ofgem|ftc|cfpb|bbb)\b",
        ),
        (
            "critical",
            "fraud or security breach",
            r"\b(?:fraud\w*|scam\w*|hacked|hacker|unauthori[sz]ed (?:payment|transaction|charge|access)"
            r"|identity theft|data breach|breach of|leaked my|stolen (?:card|identity|account)|phishing)\b",
        ),
        (
            "critical",
            "money withheld and blocking essentials",
            r"\b(?:can't|cannot|unable to|couldn't) (?:pay|afford|buy) (?:my |the |our )?(?:rent|mortgage|bills?"
            r"|food|wages|staff|suppliers?|medication)\b|\b(?:rent|wages|payroll|mortgage) (?:is |was )?due\b"
            r"|\bno money (?:for|to)\b",
        ),
        (
            "critical",
            "service fully down for a business",
            r"\b(?:whole|entire|all (?:of )?our) (?:business|company|team|office|store|shop|site)\b.{0,40}"
            r"\b(?:down|offline|can't|cannot|unable|stopped)\b|\bbusiness is (?:down|offline|at a standstill)\b"
            r"|\blosing (?:money|customers|sales|business) (?:every|by the)\b",
        ),
        (
            "high",
            "deadline today",
            r"\b(?:today|tonight|this morning|this afternoon|this evening|within (?:the|an?) hour|in (?:an?|two|one)"
            r" hours?|by (?:noon|tonight|end of day|eod)|right now|immediately|asap|urgent\w*|emergency"
            r"|flight (?:is |leaves )?(?:tomorrow|in \d+ hours?)|tomorrow morning)\b",
        ),
        (
            "high",
            "repeated contact without a fix",
            r"\b(?:third|fourth|fifth|3rd|4th|5th) (?:time|call|email|message|attempt)\b|\b(?:called|rang|emailed"
            r"|messaged|chased|contacted|written|phoned) (?:you |them |support )?(?:\d+|two|three|four|five|six|several"
            r"|many|multiple) times\b|\bstill (?:no|not|nothing|waiting)\b.{0,60}\bafter\b|\bno one (?:has )?"
            r"(?:called|got) back\b|\bpromised (?:a |to )?call ?back\b|\bagain and again\b"
            r"|\bkeep (?:calling|chasing)\b",
        ),
        (
            "high",
            "repeated wrong charges",
            r"\b(?:charged|billed|debited) (?:me )?(?:three times|again|every month|each month)\b"
            r"|\b(?:double|over) ?charged (?:me )?again\b|\bkeep (?:charging|billing|taking)\b",
        ),
    )
)
_LEVELS = ("low", "medium", "high", "critical")


def assess_urgency(cleaned: str, sentiment: str, intent: str, emotions: Mapping[str, float]) -> tuple[str, str | None]:
    """The urgency level (low/medium/high/critical) of a cleaned text and the reason for it (None when low)."""
    lowered = normalise(cleaned)
    best, reason = "low", None
    for level, why, pattern in _RULES:
        if _LEVELS.index(level) > _LEVELS.index(best) and pattern.search(lowered):
            best, reason = level, why
    if intent == "praise":
        return "low", None
    if intent == "churn_threat" and _LEVELS.index(best) < _LEVELS.index("high"):
        best, reason = "high", "churn threat"
    if best == "high" and reason == "deadline today" and intent in {"praise", "suggestion"}:
        best, reason = "low", None
    if best == "low" and (intent == "complaint" or (sentiment == "negative" and intent != "suggestion")):
        best, reason = "medium", "a problem to fix"
    if best == "medium" and max(emotions.get("anger", 0.0), emotions.get("frustration", 0.0)) >= 0.85:
        best, reason = "high", "strong anger"
    return best, reason
