"""Classification metrics in plain Python: accuracy, macro-F1, per-class recall and F1."""

from __future__ import annotations

from collections.abc import Sequence


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of exact matches."""
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / max(len(gold), 1)


def f1_by_class(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """F1 of each class."""
    out = {}
    for c in classes:
        tp = sum(g == c and p == c for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != c and p == c for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == c and p != c for g, p in zip(gold, predicted, strict=True))
        out[c] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return out


def macro_f1(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> float:
    """Unweighted mean of the per-class F1."""
    scores = f1_by_class(gold, predicted, classes)
    return sum(scores.values()) / max(len(scores), 1)


def recall_by_class(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """Recall of each class."""
    out = {}
    for c in classes:
        support = sum(g == c for g in gold)
        hit = sum(g == c and p == c for g, p in zip(gold, predicted, strict=True))
        out[c] = hit / support if support else 0.0
    return out


def multilabel_f1(gold: Sequence[frozenset[str]], predicted: Sequence[frozenset[str]], label: str) -> float:
    """F1 of one label over multi-label rows."""
    tp = sum(label in g and label in p for g, p in zip(gold, predicted, strict=True))
    fp = sum(label not in g and label in p for g, p in zip(gold, predicted, strict=True))
    fn = sum(label in g and label not in p for g, p in zip(gold, predicted, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0
