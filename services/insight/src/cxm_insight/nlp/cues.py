"""Lexical cue features: complaint, praise, question, churn and urgency signals that embeddings under-weight."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_NEG = r"(?:not|no|never|n't|cannot|can't|won't|don't|didn't|doesn't|isn't|wasn't|aren't|haven't|hasn't)"

# Each cue is a named regular expression; its feature is 1 when it matches the lower-cased text.
CUES: tuple[tuple[str, str], ...] = (
    ("negation", rf"\b{_NEG}\b|n't\b"),
    ("never", r"\bnever\b"),
    ("still_waiting", r"\bstill (?:waiting|no|not|nothing|haven't|hasn't|have not|has not|on hold|stuck)\b"),
    ("waiting", r"\b(?:wait|waiting|waited|on hold|hold time|queue)\b"),
    ("delay", r"\b(?:delay|delayed|delays|late|overdue|behind schedule)\b"),
    (
        "duration",
        r"\b(?:\d+|an?|two|three|four|five|several|many)\s*(?:hours?|hrs?|days?|weeks?|months?|mins?|minutes?)\b",
    ),
    ("cancelled", r"\b(?:cancel+ed|cancel+ation|cancel+ing)\b"),
    ("refund", r"\b(?:refund|refunds|refunded|money back|reimburse\w*|compensat\w*)\b"),
    ("lost_broken", r"\b(?:lost|missing|broken|damaged|stolen|stuck|stranded|wrong|error|fail\w*|crash\w*)\b"),
    (
        "not_working",
        r"\b(?:not working|doesn't work|does not work|won't work|stopped working|isn't working|down again)\b",
    ),
    ("superlative_bad", r"\b(?:worst|terrible|horrible|awful|pathetic|useless|ridiculous|unacceptable|disgrace\w*)\b"),
    ("bad", r"\b(?:bad|poor|rude|sucks?|hate|annoy\w*|frustrat\w*|disappoint\w*|angry|upset|fed up|joke)\b"),
    ("no_one", r"\b(?:no one|nobody|no response|no reply|no answer|no help|no info\w*|no way)\b"),
    ("again", r"\b(?:again|every time|always|keeps?|third time|second time|yet another)\b"),
    ("complain", r"\b(?:complain\w*|complaint|issue|problem|trouble|fix|sort (?:this|it) out)\b"),
    ("why", r"\bwhy\b"),
    ("thanks", r"\b(?:thanks?|thank you|thx|ty|cheers|grateful|appreciated?)\b"),
    ("praise", r"\b(?:great|awesome|amazing|excellent|love|loved|best|fantastic|wonderful|perfect|kudos|brilliant)\b"),
    ("good", r"\b(?:good|nice|helpful|friendly|pleasant|smooth|easy|quick|fast|happy|glad|enjoy\w*)\b"),
    ("positive_emoji", r"(?::\)|:-\)|:d\b|;\)|<3|\u2764|\U0001f60a|\U0001f44d|\U0001f64f|\U0001f600|\U0001f603)"),
    ("negative_emoji", r"(?::\(|:-\(|\U0001f621|\U0001f620|\U0001f624|\U0001f62d|\U0001f44e)"),
    ("question_mark", r"\?"),
    (
        "question_start",
        r"^(?:what|when|where|who|how|which|is|are|can|could|do|does|did|will|would|should|any)\b",
    ),
    ("request", r"\b(?:can you|could you|would you|please|pls|plz|how do i|how can i|is there|is it possible)\b"),
    ("suggestion", r"\b(?:should|suggest\w*|would be (?:nice|great|good)|wish|it would help|consider|add an?|idea)\b"),
    (
        "churn",
        r"\b(?:cancel (?:my|the) (?:account|subscription|membership|plan|contract)|close my account|switch\w* to"
        r"|leav\w* (?:you|for)|never (?:again|fly\w*|use\w*|buy\w*|order\w*|com\w* back)|going elsewhere"
        r"|take my business|last time i|competitor|done with you|moving to)\b",
    ),
    ("urgent", r"\b(?:urgent\w*|asap|immediately|right now|emergency|as soon as possible|today|tonight)\b"),
    ("legal", r"\b(?:lawyer|legal|sue|suing|lawsuit|court|ombudsman|regulator|report you|attorney)\b"),
    ("safety", r"\b(?:injur\w*|hurt|unsafe|danger\w*|fire|smoke|sick|poison\w*|allerg\w*|hospital|police)\b"),
    ("security", r"\b(?:fraud\w*|hack\w*|scam\w*|unauthori[sz]ed|breach|identity theft|stolen|phishing)\b"),
    ("money", r"(?:\$\s?\d|\d\s?(?:usd|eur|gbp|dollars|euros|pounds)\b|\b(?:charged|overcharged|fee|fees)\b)"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in CUES)
_WORD = re.compile(r"[A-Za-z']+")

CUE_NAMES: tuple[str, ...] = (*(name for name, _ in CUES), "exclamations", "all_caps", "length")


def cue_vector(text: str) -> np.ndarray:
    """The cue features of one cleaned text as a float32 vector (order of CUE_NAMES)."""
    lowered = text.lower().replace("’", "'")
    values = [1.0 if pattern.search(lowered) else 0.0 for _, pattern in _COMPILED]
    words = _WORD.findall(text)
    caps = sum(1 for w in words if len(w) > 2 and w.isupper())
    values.append(min(text.count("!"), 3) / 3.0)
    values.append(min(caps, 3) / 3.0)
    values.append(min(len(words), 60) / 60.0)
    return np.asarray(values, dtype=np.float32)


def cue_matrix(texts: Sequence[str]) -> np.ndarray:
    """Cue features of many cleaned texts, shape (n, len(CUE_NAMES))."""
    if not texts:
        return np.zeros((0, len(CUE_NAMES)), dtype=np.float32)
    return np.stack([cue_vector(t) for t in texts])


def matched_cues(text: str) -> list[str]:
    """Names of the regex cues that match a cleaned text."""
    lowered = text.lower().replace("’", "'")
    return [name for name, pattern in _COMPILED if pattern.search(lowered)]
