"""Lexical cues that sentence embeddings under-weight: complaint, praise, question, churn and urgency signals."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_NOT = r"(?:not|no|never|cannot|can't|won't|don't|didn't|doesn't|isn't|wasn't|aren't|haven't|hasn't|couldn't|nothing)"

# Each cue is a named pattern over the lower-cased text; its feature is 1.0 when it matches.
CUES: tuple[tuple[str, str], ...] = (
    ("negation", rf"\b{_NOT}\b"),
    ("never", r"\bnever\b"),
    ("still_waiting", r"\bstill (?:waiting|no\b|not\b|nothing|haven't|hasn't|have not|has not|on hold|stuck|no word)"),
    ("waiting", r"\b(?:wait|waits|waiting|waited|on hold|hold time|queue|line was)\b"),
    ("delay", r"\b(?:delay|delays|delayed|late|later than|overdue|behind schedule|missed)\b"),
    ("duration", r"\b(?:\d+|an?|two|three|four|five|six|several|many)\s*(?:hours?|hrs?|days?|weeks?|months?|mins?)\b"),
    ("cancelled", r"\bcancel+(?:ed|ation|ations|ing)\b"),
    ("refund", r"\b(?:refunds?|refunded|money back|reimburse\w*|compensat\w*|voucher)\b"),
    ("failure", r"\b(?:lost|missing|broken|broke|damaged|stuck|stranded|wrong|error|errors|fail\w*|crash\w*|bug\w*)\b"),
    (
        "not_working",
        r"\b(?:not working|doesn't work|does not work|won't work|stopped working|isn't working|down again)",
    ),
    ("inability", r"\b(?:can't|cannot|couldn't|unable to|impossible to|no way to|won't let)\b"),
    ("very_bad", r"\b(?:worst|terrible|horrible|awful|pathetic|useless|ridiculous|unacceptable|disgrac\w*|shameful)\b"),
    ("bad", r"\b(?:bad|poor|rude|sucks?|hate|annoy\w*|frustrat\w*|disappoint\w*|angry|upset|fed up|joke|mess)\b"),
    ("nobody", r"\b(?:no one|nobody|no response|no reply|no answer|no help|no info\w*|no call|no email|ignored)\b"),
    ("repeated", r"\b(?:again|every time|always|keeps?|third time|second time|yet another|multiple times)\b"),
    ("problem", r"\b(?:complain\w*|complaint|issues?|problems?|trouble|fix|sort (?:this|it) out|resolve\w*)\b"),
    ("why", r"\bwhy\b"),
    ("thanks", r"\b(?:thanks?|thank you|thx|ty|cheers|grateful|appreciated?)\b"),
    ("very_good", r"\b(?:great|awesome|amazing|excellent|love|loved|loving|best|fantastic|wonderful|perfect|kudos)\b"),
    ("good", r"\b(?:good|nice|helpful|friendly|pleasant|smooth|easy|quick|fast|happy|glad|enjoy\w*|brilliant)\b"),
    ("positive_emoji", r"(?::\)|:-\)|:d\b|;\)|<3|❤|😊|👍|🙏|😀|😃|😍|🙌|👏|✈️)"),
    ("negative_emoji", r"(?::\(|:-\(|😡|😠|😤|😭|👎|😩|😢|🙄)"),
    ("question_mark", r"\?"),
    ("question_start", r"^(?:what|when|where|who|how|which|is|are|can|could|do|does|did|will|would|should|any)\b"),
    ("request", r"\b(?:can you|could you|would you|please|pls|plz|how do i|how can i|is there|is it possible|dm)\b"),
    ("suggestion", r"\b(?:should|suggest\w*|would be (?:nice|great|good|helpful)|wish|i'd love|consider|idea)\b"),
    (
        "churn",
        r"\b(?:(?:cancel|close|terminate|end|delete|stop) (?:my|our|the) (?:\w+ )?(?:account|subscription|membership"
        r"|plan|contract|policy|service|direct debit)|(?:think\w*|consider\w*) (?:about |of )?(?:leav|cancel|switch"
        r"|mov)\w*|look\w* elsewhere|shop\w* around|why (?:should|would) i stay"
        r"|(?:i'm|i am|we're|we are|i'll|i will|we'll|we will|i'd|gonna|going to)"
        r" (?:be )?(?:cancel\w*|leav\w*|switch\w*|port\w*|quit\w*|done with)"
        r"|(?:not|won't|will not|never) (?:be )?(?:renew\w*|com\w* back|return\w*|(?:order|fly|book|shop|use)\w*"
        r" (?:with |from )?(?:you|this|it)? ?again)|never again|switch\w* (?:to|provider|bank|carrier|supplier)"
        r"|leav\w* (?:you|for)|(?:last|final) (?:time|order|flight|straw)|take (?:my|our) business|going elsewhere"
        r"|competitor|(?:or|otherwise) (?:i|we)(?:'ll| will| am| are|'m)? (?:leave|cancel|switch|go|walk)"
        r"|mov\w* (?:my|our) (?:account|business|money|number|custom)|moving (?:over )?to (?:another|a different|a new)"
        r"|fee to (?:leave|exit|close (?:my|the|our) account)|early termination|port (?:my|our) number"
        r"|lost (?:a|me as a) customer"
        r"|(?:find|found|look\w* for|look\w* at) (?:another|a new|a different|a better|other) (?:provider|bank"
        r"|supplier|airline|company|service|carrier|insurer))\b",
    ),
    ("urgent", r"\b(?:urgent\w*|asap|immediately|right now|emergency|as soon as possible|today|tonight|tomorrow)\b"),
    ("legal", r"\b(?:lawyer|legal action|sue|suing|lawsuit|court|ombudsman|regulator|solicitor|attorney|police)\b"),
    ("safety", r"\b(?:injur\w*|hurt|unsafe|danger\w*|fire|smoke|gas leak|sick|poison\w*|allerg\w*|hospital)\b"),
    ("security", r"\b(?:fraud\w*|hack\w*|scam\w*|unauthori[sz]ed|breach|identity theft|stolen|phishing)\b"),
    ("money", r"(?:[$£€]\s?\d|\d\s?(?:usd|eur|gbp|dollars|euros|pounds)\b|\b(?:charged|overcharged|fees?)\b)"),
    ("contrast", r"\b(?:but|however|although|though)\b"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in CUES)
_WORD = re.compile(r"[A-Za-z']+")

CUE_NAMES: tuple[str, ...] = (*(name for name, _ in CUES), "exclamations", "all_caps", "length")


def normalise(text: str) -> str:
    """Lower-case text with typographic apostrophes made plain, as the cue patterns expect."""
    return text.lower().replace("’", "'").replace("‘", "'")


def cue_vector(text: str) -> np.ndarray:
    """The cue features of one cleaned text as a float32 vector in CUE_NAMES order."""
    lowered = normalise(text)
    values = [1.0 if pattern.search(lowered) else 0.0 for _, pattern in _COMPILED]
    words = _WORD.findall(text)
    shouted = sum(1 for w in words if len(w) > 2 and w.isupper())
    values.append(min(text.count("!"), 3) / 3.0)
    values.append(min(shouted, 3) / 3.0)
    values.append(min(len(words), 60) / 60.0)
    return np.asarray(values, dtype=np.float32)


def cue_matrix(texts: Sequence[str]) -> np.ndarray:
    """Cue features of many cleaned texts, shape (n, len(CUE_NAMES))."""
    if not texts:
        return np.zeros((0, len(CUE_NAMES)), dtype=np.float32)
    return np.stack([cue_vector(text) for text in texts])


def matched(text: str, *names: str) -> list[str]:
    """The named cues (all cues when none are named) that match a cleaned text."""
    lowered = normalise(text)
    return [name for name, pattern in _COMPILED if (not names or name in names) and pattern.search(lowered)]
