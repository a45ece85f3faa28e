"""Text clean-up before encoding (social handles, links, hashtag marks) and clause splitting for aspects."""

from __future__ import annotations

import html
import re

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w#&])#(\w+)")
_SPACES = re.compile(r"\s+")
_CLAUSE_BREAK = re.compile(r"(?<=[.!?;])\s+|\s*\n+\s*|,?\s+\b(?:but|however|although|though|whereas)\b\s+", re.I)
_WORD = re.compile(r"[^\W_]", re.UNICODE)


def clean_text(text: str | None) -> str:
    """Drop @mentions and URLs, keep hashtag words without '#', unescape HTML entities, squeeze whitespace."""
    if not text:
        return ""
    text = html.unescape(text)
    text = _URL.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = _HASHTAG.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def has_words(text: str | None) -> bool:
    """Whether text holds at least one letter or digit worth analysing."""
    return bool(text) and _WORD.search(text or "") is not None


def split_clauses(text: str) -> list[str]:
    """Split cleaned text into sentences and contrastive clauses ("…, but …"); never returns an empty list."""
    parts = [part.strip() for part in _CLAUSE_BREAK.split(text) if part and part.strip()]
    return [part for part in parts if has_words(part)] or [text]
