"""Specification of the numpy logistic regression and sparse rows."""

from __future__ import annotations

import numpy as np

from cxm_insight.nlp.linear import SparseRows, balanced_weights, fit_linear


def test_softmax_regression_separates_separable_classes() -> None:
    """Three well-separated blobs are classified perfectly."""
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])
    y = np.repeat(np.arange(3), 50)
    x = centres[y] + rng.normal(scale=0.5, size=(150, 2))
    model = fit_linear(x, np.eye(3)[y], ("a", "b", "c"))
    p = model.predict_proba(x)
    assert (p.argmax(axis=1) == y).all()
    assert np.allclose(p.sum(axis=1), 1.0)


def test_sparse_products_match_dense_ones() -> None:
    """SparseRows.dot and .tdot equal the dense matrix products."""
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    rows = SparseRows(np.array([0, 1, 3, 3]), np.array([1, 0, 2]), np.array([2.0, 1.0, 3.0]), 3)
    w = np.arange(6, dtype=float).reshape(3, 2)
    g = np.arange(6, dtype=float).reshape(3, 2)
    assert np.allclose(rows.dot(w), dense @ w)
    assert np.allclose(rows.tdot(g), dense.T @ g)


def test_balanced_weights_give_each_class_the_same_total() -> None:
    """Rare classes weigh more per sample."""
    y = np.array([0, 0, 0, 1])
    w = balanced_weights(y, 2)
    assert w[y == 0].sum() == w[y == 1].sum()
    assert np.isclose(w.mean(), 1.0)
