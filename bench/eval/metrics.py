"""Classification metrics: accuracy, per-class precision/recall/F1, macro-F1 (single- and multi-label)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Share of exact matches."""
    return float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 0.0


def per_class(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class."""
    out = {}
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        predicted = sum(1 for p in pred if p == c)
        support = sum(1 for g in gold if g == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[c] = {"precision": precision, "recall": recall, "f1": f1, "support": support}
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str], classes: Sequence[str]) -> float:
    """Unweighted mean F1 over classes."""
    stats = per_class(gold, pred, classes)
    return float(np.mean([stats[c]["f1"] for c in classes]))


def multilabel_f1(gold: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Per-class F1 of (n, k) 0/1 gold and predicted matrices."""
    tp = (gold * pred).sum(axis=0)
    denominator = gold.sum(axis=0) + pred.sum(axis=0)
    return np.asarray(np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0))
