"""Hashed unigram + bigram TF-IDF features (stable across processes: CRC32, not Python's salted hash)."""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cxm_insight.nlp.cues import normalise
from cxm_insight.nlp.linear import SparseRows

BUCKETS = 1 << 18
_TOKEN = re.compile(r"[a-z0-9']+|[!?]")


def tokens(cleaned: str) -> list[str]:
    """Lower-cased word tokens plus '!' and '?' of a cleaned text."""
    return _TOKEN.findall(normalise(cleaned))


def ngram_ids(cleaned: str) -> Counter[int]:
    """Bucket ids of a text's unigrams and bigrams, with counts."""
    words = tokens(cleaned)
    grams = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
    return Counter(zlib.crc32(g.encode("utf-8")) % BUCKETS for g in grams)


def document_frequencies(texts: Sequence[str]) -> dict[int, int]:
    """In how many texts each bucket occurs."""
    df: Counter[int] = Counter()
    for text in texts:
        df.update(ngram_ids(text).keys())
    return dict(df)


def idf_table(df: dict[int, int], documents: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted bucket ids and their smoothed idf, log((1 + N) / (1 + df)) + 1."""
    ids = np.array(sorted(df), dtype=np.int64)
    counts = np.array([df[i] for i in ids], dtype=np.float64)
    return ids, (np.log((1.0 + documents) / (1.0 + counts)) + 1.0).astype(np.float32)


def tfidf_rows(texts: Sequence[str], idf_ids: np.ndarray, idf: np.ndarray) -> SparseRows:
    """L2-normalised sublinear-tf x idf rows over the buckets known to the idf table (others are dropped)."""
    indptr = [0]
    indices: list[int] = []
    values: list[float] = []
    for text in texts:
        counts = ngram_ids(text)
        keys = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        pos = np.searchsorted(idf_ids, keys)
        known = (pos < len(idf_ids)) & (idf_ids[np.minimum(pos, len(idf_ids) - 1)] == keys)
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        weights = tf[known] * idf[pos[known]]
        norm = float(np.linalg.norm(weights))
        if norm > 0:
            weights = weights / norm
        indices.extend(pos[known].tolist())
        values.extend(weights.tolist())
        indptr.append(len(indices))
    return SparseRows(
        indptr=np.array(indptr, dtype=np.int64),
        indices=np.array(indices, dtype=np.int64),
        values=np.array(values, dtype=np.float64),
        columns=len(idf_ids),
    )


GRAM_BUCKETS = 1 << 24
CHAR_SIZES = (3, 4, 5)


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
