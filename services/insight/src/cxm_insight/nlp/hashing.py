"""Hashed unigram+bigram TF-IDF features (stable across processes: crc32, not Python's salted hash)."""

from __future__ import annotations

import itertools
import re
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from cxm_insight.nlp.linear import SparseRows

HASH_DIM = 1 << 15
_TOKEN = re.compile(r"[a-z0-9']+|[!?]")


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens plus '!' and '?', with unigrams and bigrams."""
    words = _TOKEN.findall(text.lower().replace("’", "'"))
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


def _bucket(token: str) -> int:
    """The hash bucket of a token."""
    return zlib.crc32(token.encode("utf-8")) % HASH_DIM


def term_counts(texts: Sequence[str]) -> list[Counter[int]]:
    """Bucket counts per text."""
    return [Counter(_bucket(t) for t in tokens(text)) for text in texts]


def fit_idf(counts: Sequence[Counter[int]]) -> np.ndarray:
    """Smoothed inverse document frequency per bucket, as scikit-learn computes it."""
    df = np.zeros(HASH_DIM, dtype=np.float64)
    for c in counts:
        df[list(c.keys())] += 1
    return np.asarray(np.log((1 + len(counts)) / (1 + df)) + 1.0, dtype=np.float32)


def tfidf_rows(counts: Sequence[Counter[int]], idf: np.ndarray) -> SparseRows:
    """Sublinear TF-IDF rows, L2-normalised, as a SparseRows matrix."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for i, c in enumerate(counts):
        if not c:
            continue
        keys = np.fromiter(c.keys(), dtype=np.int64, count=len(c))
        tf = 1.0 + np.log(np.fromiter(c.values(), dtype=np.float64, count=len(c)))
        v = tf * idf[keys]
        v /= max(float(np.linalg.norm(v)), 1e-12)
        rows.extend([i] * len(c))
        cols.extend(keys.tolist())
        vals.extend(v.tolist())
    return SparseRows(
        len(counts), HASH_DIM, np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64), np.asarray(vals)
    )
