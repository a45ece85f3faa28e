"""Linear classifiers in numpy: softmax or one-vs-rest logistic regression, L2, weighted, fitted with L-BFGS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    """A sparse (n, columns) matrix in CSR form, for hashed n-gram features."""

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    columns: int

    @property
    def rows(self) -> int:
        """Number of rows."""
        return len(self.indptr) - 1

    def row_ids(self) -> np.ndarray:
        """The row index of every stored value."""
        return np.repeat(np.arange(self.rows), np.diff(self.indptr))

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """self @ weights for dense weights of shape (columns, k)."""
        rows = self.row_ids()
        out = np.zeros((self.rows, weights.shape[1]), dtype=np.float64)
        for k in range(weights.shape[1]):
            out[:, k] = np.bincount(rows, weights=self.values * weights[self.indices, k], minlength=self.rows)
        return out

    def tdot(self, grad: np.ndarray) -> np.ndarray:
        """self.T @ grad for dense grad of shape (rows, k)."""
        rows = self.row_ids()
        out = np.zeros((self.columns, grad.shape[1]), dtype=np.float64)
        for k in range(grad.shape[1]):
            out[:, k] = np.bincount(self.indices, weights=self.values * grad[rows, k], minlength=self.columns)
        return out


@dataclass(frozen=True)
class LinearModel:
    """A fitted linear classifier over standardised dense features (plus optional sparse features)."""

    classes: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    multilabel: bool = False
    sparse_weights: np.ndarray | None = None

    def logits(self, dense: np.ndarray, sparse: SparseRows | None = None) -> np.ndarray:
        """Raw class scores, shape (n, classes)."""
        z = ((dense - self.mean) / self.scale) @ self.weights + self.bias
        if sparse is not None and self.sparse_weights is not None:
            z = z + sparse.dot(self.sparse_weights)
        return np.asarray(z, dtype=np.float64)

    def predict_proba(self, dense: np.ndarray, sparse: SparseRows | None = None) -> np.ndarray:
        """Class probabilities: softmax rows, or independent sigmoids when multilabel."""
        z = self.logits(dense, sparse)
        return sigmoid(z) if self.multilabel else softmax(z)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Element-wise logistic function."""
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)))


def balanced_weights(y: np.ndarray, classes: int) -> np.ndarray:
    """Per-sample weights that give every present class the same total weight (mean weight 1)."""
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    present = counts > 0
    per_class = np.zeros(classes)
    per_class[present] = len(y) / (present.sum() * counts[present])
    return np.asarray(per_class[y])


def fit_linear(
    dense: np.ndarray,
    targets: np.ndarray,
    classes: tuple[str, ...],
    *,
    l2: float = 1.0,
    sample_weight: np.ndarray | None = None,
    multilabel: bool = False,
    sparse: SparseRows | None = None,
    sparse_l2: float | None = None,
    offset: np.ndarray | None = None,
    standardize: bool = True,
    max_iter: int = 300,
) -> LinearModel:
    """Fit an L2-regularised logistic model to targets (one-hot rows, or multi-hot when multilabel).

    offset, when given, is a fixed (n, k) term added to the logits: the model then learns a correction to it.
    standardize=False keeps the features' own scale (the L2 penalty then acts on raw weights).
    """
    n, d = dense.shape
    k = targets.shape[1]
    mean = dense.mean(axis=0) if standardize else np.zeros(d)
    scale = dense.std(axis=0) + 1e-6 if standardize else np.ones(d)
    x = (dense - mean) / scale
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w = w / w.sum()
    s = sparse.columns if sparse is not None else 0
    lam_sparse = l2 if sparse_l2 is None else sparse_l2

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split the flat parameter vector into dense weights, bias and sparse weights."""
        return theta[: d * k].reshape(d, k), theta[d * k : d * k + k], theta[d * k + k :].reshape(s, k)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted log-loss plus L2 (per sample scaled by 1/n), and its gradient."""
        wd, b, ws = unpack(theta)
        z = x @ wd + b
        if offset is not None:
            z = z + offset
        if sparse is not None:
            z = z + sparse.dot(ws)
        if multilabel:
            p = sigmoid(z)
            loss = np.logaddexp(0.0, z) - targets * z
            value = float((w[:, None] * loss).sum())
        else:
            z = z - z.max(axis=1, keepdims=True)
            log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
            p = np.exp(z - log_norm)
            value = float(-(w[:, None] * targets * (z - log_norm)).sum())
        g = w[:, None] * (p - targets)
        grad_wd = x.T @ g + (l2 / n) * wd
        grad_b = g.sum(axis=0)
        value += 0.5 * (l2 / n) * float((wd * wd).sum())
        parts = [grad_wd.ravel(), grad_b]
        if sparse is not None:
            parts.append((sparse.tdot(g) + (lam_sparse / n) * ws).ravel())
            value += 0.5 * (lam_sparse / n) * float((ws * ws).sum())
        return value, np.concatenate(parts)

    theta = lbfgs(objective, np.zeros(d * k + k + s * k), max_iter=max_iter)
    wd, b, ws = unpack(theta)
    return LinearModel(
        classes=classes,
        weights=wd.astype(np.float32),
        bias=b.astype(np.float32),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        multilabel=multilabel,
        sparse_weights=ws.astype(np.float32) if sparse is not None else None,
    )


def lbfgs(
    fun: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    *,
    max_iter: int = 300,
    memory: int = 10,
    tol: float = 1e-9,
    gtol: float = 1e-7,
) -> np.ndarray:
    """Minimise a smooth function given as value-and-gradient, with limited-memory BFGS and Armijo backtracking."""
    value, grad = fun(theta)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    for _ in range(max_iter):
        if float(np.abs(grad).max()) <= gtol:
            break
        q = grad.copy()
        alphas = []
        for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = float(s @ q) / float(y @ s)
            alphas.append(a)
            q -= a * y
        if s_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        else:
            # First step: a unit move along the gradient direction, whatever the gradient's scale.
            q /= max(float(np.linalg.norm(q)), 1e-12)
        for (s, y), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
            q += (a - float(y @ q) / float(y @ s)) * s
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:
            s_hist.clear()
            y_hist.clear()
            direction = -grad / max(float(np.linalg.norm(grad)), 1e-12)
            slope = float(grad @ direction)
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_value, new_grad = fun(candidate)
            if new_value <= value + 1e-4 * step * slope or step < 1e-12:
                break
            step *= 0.5
        s_vec, y_vec = candidate - theta, new_grad - grad
        improvement = value - new_value
        theta, value, grad = candidate, new_value, new_grad
        if float(y_vec @ s_vec) > 1e-16:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        if 0 <= improvement <= tol * max(1.0, abs(value)) and len(s_hist) > 1:
            break
    return theta
