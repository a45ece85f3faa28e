"""Ridge regression onto one-hot classes, its penalty chosen by exact leave-one-out error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PENALTIES = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True)
class Ridge:
    """A fitted linear map from features to class scores."""

    mean: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    penalty: float

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Class scores of rows of x, shape (n, classes)."""
        return np.asarray((x - self.mean) @ self.weights + self.intercept, dtype=np.float64)


def fit_ridge(x: np.ndarray, targets: np.ndarray, penalties: Sequence[float] = PENALTIES) -> tuple[Ridge, np.ndarray]:
    """Fit ridge for each penalty and keep the one with the least leave-one-out squared error.

    Returns the model and the training rows' leave-one-out scores (each row predicted by a fit without it), which
    the closed form gives exactly: (fit_i − h_ii·y_i) / (1 − h_ii) with h the hat matrix's diagonal.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    mean, target_mean = x.mean(axis=0), targets.mean(axis=0)
    centred, residual = x - mean, targets - target_mean
    eigenvalues, vectors = np.linalg.eigh(centred.T @ centred)
    u = centred @ vectors
    u_targets = u.T @ residual
    u_squared = u * u
    best: tuple[float, float, np.ndarray, np.ndarray] | None = None
    for penalty in penalties:
        shrink = 1.0 / (np.maximum(eigenvalues, 0.0) + penalty)
        fitted = u @ (shrink[:, None] * u_targets) + target_mean
        leverage = np.minimum(u_squared @ shrink + 1.0 / n, 1.0 - 1e-6)
        loo = (fitted - leverage[:, None] * targets) / (1.0 - leverage[:, None])
        error = float(((loo - targets) ** 2).sum())
        if best is None or error < best[0]:
            best = (error, penalty, shrink, loo)
    assert best is not None
    _, penalty, shrink, loo = best
    weights = vectors @ (shrink[:, None] * u_targets)
    model = Ridge(mean.astype(np.float32), weights.astype(np.float32), target_mean.astype(np.float32), penalty)
    return model, loo
