"""Specification of ridge regression with its leave-one-out scores."""

from __future__ import annotations

import numpy as np

from cxm_insight.nlp.ridge import fit_ridge


def test_leave_one_out_scores_equal_refits_without_the_row() -> None:
    """Each training row's score is what a ridge fitted without that row (same penalty) gives it."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 4))
    y = (x[:, 0] + 0.5 * rng.normal(size=30) > 0).astype(int)
    targets = np.eye(2)[y]
    model, loo = fit_ridge(x, targets)
    for i in (0, 7, 29):
        keep = np.arange(30) != i
        alone, _ = fit_ridge(x[keep], targets[keep], penalties=(model.penalty,))
        assert np.allclose(loo[i], alone.scores(x[i : i + 1])[0])


def test_the_penalty_with_the_least_leave_one_out_error_is_kept() -> None:
    """Pure noise features get a strong penalty; a clean signal a weak one."""
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 40)
    noise = rng.normal(size=(80, 20))
    signal = np.hstack([y[:, None] + 0.05 * rng.normal(size=(80, 1)), noise[:, :2]])
    assert fit_ridge(noise, np.eye(2)[y])[0].penalty == 100.0
    assert fit_ridge(signal, np.eye(2)[y])[0].penalty == 0.1
