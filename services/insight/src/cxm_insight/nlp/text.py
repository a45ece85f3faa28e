"""Text clean-up before encoding, and sentence splitting for per-topic sentiment."""

from __future__ import annotations

import re

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w#])#(\w+)")
_HTML_ENTITY = {"&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#39;": "'"}
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*|\s+(?:but|however|although)\s+", re.IGNORECASE)


def clean_text(text: str | None) -> str:
    """Strip @mentions and URLs, keep hashtag words without '#', unescape common entities, squeeze spaces."""
    if not text:
        return ""
    for entity, char in _HTML_ENTITY.items():
        text = text.replace(entity, char)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _HASHTAG.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def has_words(text: str | None) -> bool:
    """Whether the text contains at least one letter or digit worth analysing."""
    return bool(text) and any(ch.isalnum() for ch in text or "")


def split_sentences(text: str) -> list[str]:
    """Split text into clauses at sentence ends, line breaks and contrastive conjunctions."""
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    return [p for p in parts if has_words(p)] or [text]
