"""Naive Bayes n-gram scores with leave-one-out training scores, a cheap lexical model of a tenant's labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NaiveBayes:
    """Per-class counts of texts containing each hashed n-gram, and the smoothing that turns them into scores."""

    ids: np.ndarray
    counts: np.ndarray
    alpha: float

    def log_table(self) -> np.ndarray:
        """log P(n-gram | class) for every known n-gram, shape (n-grams, classes)."""
        totals = self.counts.sum(axis=0)
        return np.asarray(np.log((self.counts + self.alpha) / (totals + self.alpha * len(self.ids))))

    def scores(self, grams: Sequence[np.ndarray]) -> np.ndarray:
        """Centred class log-likelihoods of texts given as arrays of n-gram ids (unknown n-grams are ignored)."""
        table = self.log_table()
        rows, positions = self._positions(grams)
        out = np.zeros((len(grams), self.counts.shape[1]))
        for k in range(self.counts.shape[1]):
            out[:, k] = np.bincount(rows, weights=table[positions, k], minlength=len(grams))
        return centred(out)

    def _positions(self, grams: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Row index and table position of every known n-gram occurrence."""
        if not grams or not len(self.ids):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        flat = np.concatenate(grams)
        rows = np.repeat(np.arange(len(grams)), [len(g) for g in grams])
        pos = np.minimum(np.searchsorted(self.ids, flat), len(self.ids) - 1)
        known = self.ids[pos] == flat
        return rows[known], pos[known]


def fit_naive_bayes(
    grams: Sequence[np.ndarray], y: np.ndarray, classes: int, alpha: float
) -> tuple[NaiveBayes, np.ndarray]:
    """Count n-grams per class and return the model with each training text's leave-one-out scores.

    A text's own counts are taken out before it is scored, so the training scores are as honest as those of
    unseen texts and a model stacked on them learns how far to trust the lexical evidence.
    """
    unique = [np.unique(g) for g in grams]
    flat = np.concatenate(unique) if unique else np.zeros(0, dtype=np.int64)
    ids = np.unique(flat)
    rows = np.repeat(np.arange(len(unique)), [len(g) for g in unique])
    pos = np.searchsorted(ids, flat)
    counts = np.zeros((len(ids), classes))
    for k in range(classes):
        counts[:, k] = np.bincount(pos[y[rows] == k], minlength=len(ids))
    model = NaiveBayes(ids.astype(np.int64), counts, alpha)
    # Leave one out: the text's own class loses its counts, and n-grams only it has are unknown without it.
    lengths = np.array([len(g) for g in unique], dtype=np.float64)
    shared = counts[pos].sum(axis=1) > 1
    vocabulary = len(ids) - np.bincount(rows[~shared], minlength=len(unique))
    rows, pos = rows[shared], pos[shared]
    own = y[rows]
    terms_per_text = np.bincount(rows, minlength=len(unique))
    totals = counts.sum(axis=0)
    loo = np.zeros((len(unique), classes))
    for k in range(classes):
        terms = np.log(counts[pos, k] - (own == k) + alpha)
        loo[:, k] = np.bincount(rows, weights=terms, minlength=len(unique))
        removed = np.where(y == k, lengths, 0.0)
        # A text with a shared n-gram leaves at least alpha here; the floor only spares texts without one a log(0).
        loo[:, k] -= terms_per_text * np.log(np.maximum(totals[k] - removed + alpha * vocabulary, alpha))
    return model, centred(loo)


def centred(scores: np.ndarray) -> np.ndarray:
    """Scores minus their mean over classes (only differences between classes carry information)."""
    return np.asarray(scores - scores.mean(axis=1, keepdims=True)) if scores.size else scores
