"""Hashed word and character n-grams (stable across processes: CRC32, not Python's salted hash)."""

from __future__ import annotations

import itertools
import re
import zlib

import numpy as np

from cxm_insight.nlp.cues import normalise

GRAM_BUCKETS = 1 << 24
CHAR_SIZES = (3, 4, 5)
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[!?]")


def tokens(cleaned: str) -> list[str]:
    """Lower-cased word tokens (letters and digits of any script, inner apostrophes kept) plus '!' and '?'."""
    return _TOKEN.findall(normalise(cleaned))


def word_gram_ids(cleaned: str) -> np.ndarray:
    """Distinct bucket ids of a text's word unigrams and bigrams."""
    words = tokens(cleaned)
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return _bucket_ids(grams)


def char_gram_ids(cleaned: str) -> np.ndarray:
    """Distinct bucket ids of a text's words and of the 3- to 5-character pieces of its padded word sequence."""
    words = tokens(cleaned)
    padded = f" {' '.join(words)} "
    pieces = [f"#{padded[i : i + n]}" for n in CHAR_SIZES for i in range(len(padded) - n + 1)]
    return _bucket_ids(words + pieces)


def _bucket_ids(grams: list[str]) -> np.ndarray:
    """Sorted distinct CRC32 buckets of grams."""
    ids = {zlib.crc32(g.encode("utf-8")) % GRAM_BUCKETS for g in grams}
    return np.fromiter(sorted(ids), dtype=np.int64, count=len(ids))
