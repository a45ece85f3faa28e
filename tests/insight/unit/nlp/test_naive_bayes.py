"""Specification of the naive Bayes n-gram scores and their leave-one-out training scores."""

from __future__ import annotations

import numpy as np

from cxm_insight.nlp.naive_bayes import fit_naive_bayes

GRAMS = [np.array(g) for g in ([1, 2, 3], [1, 4], [2, 5, 6], [5, 6, 7], [3, 5], [1, 2])]
LABELS = np.array([0, 0, 1, 1, 1, 0])


def test_scores_favour_the_class_whose_texts_share_the_n_grams() -> None:
    """A text made of class-0 n-grams scores higher for class 0, and unknown n-grams change nothing."""
    model, _ = fit_naive_bayes(GRAMS, LABELS, 2, alpha=0.3)
    scores = model.scores([np.array([1, 2]), np.array([5, 6, 99]), np.array([99])])
    assert scores[0, 0] > scores[0, 1] and scores[1, 1] > scores[1, 0]
    assert np.allclose(scores[2], 0.0)
    assert np.allclose(scores.sum(axis=1), 0.0)


def test_leave_one_out_scores_equal_those_of_a_model_fitted_without_the_text() -> None:
    """Each training text is scored exactly as a model fitted on the other texts would score it."""
    _, loo = fit_naive_bayes(GRAMS, LABELS, 2, alpha=0.3)
    for i in range(len(GRAMS)):
        others = [g for j, g in enumerate(GRAMS) if j != i]
        alone, _ = fit_naive_bayes(others, np.delete(LABELS, i), 2, alpha=0.3)
        assert np.allclose(loo[i], alone.scores([GRAMS[i]])[0])
