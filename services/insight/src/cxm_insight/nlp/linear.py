"""Numpy linear classifiers (softmax or one-vs-rest sigmoid, L2, weighted) trained with L-BFGS."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseRows:
    """A sparse (n_rows, dim) matrix as coordinate triples; rows are the example indices."""

    n_rows: int
    dim: int
    rows: np.ndarray
    cols: np.ndarray
    vals: np.ndarray

    def dot(self, weights: np.ndarray) -> np.ndarray:
        """self @ weights for weights of shape (dim, k)."""
        out = np.zeros((self.n_rows, weights.shape[1]), dtype=np.float64)
        contrib = weights[self.cols] * self.vals[:, None]
        for k in range(weights.shape[1]):
            out[:, k] = np.bincount(self.rows, weights=contrib[:, k], minlength=self.n_rows)
        return out

    def tdot(self, grad: np.ndarray) -> np.ndarray:
        """self.T @ grad for grad of shape (n_rows, k)."""
        out = np.zeros((self.dim, grad.shape[1]), dtype=np.float64)
        contrib = grad[self.rows] * self.vals[:, None]
        for k in range(grad.shape[1]):
            out[:, k] = np.bincount(self.cols, weights=contrib[:, k], minlength=self.dim)
        return out

    def take(self, index: np.ndarray) -> SparseRows:
        """The rows at index, renumbered 0..len(index)-1 in that order."""
        position = np.full(self.n_rows, -1, dtype=np.int64)
        position[index] = np.arange(len(index))
        keep = position[self.rows] >= 0
        return SparseRows(len(index), self.dim, position[self.rows[keep]], self.cols[keep], self.vals[keep])


@dataclass(frozen=True)
class LinearModel:
    """A trained linear head: standardised dense features (+ optional sparse features) → class scores."""

    classes: tuple[str, ...]
    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    multilabel: bool = False
    sparse_weights: np.ndarray | None = None

    def logits(self, dense: np.ndarray, sparse: SparseRows | None = None) -> np.ndarray:
        """Raw class scores, shape (n, k)."""
        z = ((dense - self.mean) / self.scale) @ self.weights + self.bias
        if sparse is not None and self.sparse_weights is not None:
            z = z + sparse.dot(self.sparse_weights)
        return np.asarray(z, dtype=np.float64)

    def predict_proba(self, dense: np.ndarray, sparse: SparseRows | None = None) -> np.ndarray:
        """Class probabilities (softmax), or independent per-class probabilities when multilabel."""
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


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-example weights that give every present class the same total weight."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = np.where(counts > 0, len(y) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
    return np.asarray(per_class[y])


def fit_linear(
    dense: np.ndarray,
    targets: np.ndarray,
    classes: tuple[str, ...],
    *,
    l2: float | np.ndarray = 1.0,
    standardize: bool = True,
    sample_weight: np.ndarray | None = None,
    multilabel: bool = False,
    sparse: SparseRows | None = None,
    l2_sparse: float | None = None,
    max_iter: int = 300,
) -> LinearModel:
    """Fit a linear head. targets: (n, k) probabilities (one-hot for plain labels).

    The loss is the weighted mean cross-entropy + l2/(2n)·|W|² (scikit-learn's C = 1/l2); l2 may be one value per
    dense column. Dense columns are standardised first unless standardize is False.
    """
    n, d = dense.shape
    k = len(classes)
    if standardize:
        mean = dense.mean(axis=0)
        scale = dense.std(axis=0)
        scale = np.where(scale < 1e-6, 1.0, scale)
    else:
        mean, scale = np.zeros(d), np.ones(d)
    lam = np.broadcast_to(np.asarray(l2, dtype=np.float64), (d,))[:, None]
    x = ((dense - mean) / scale).astype(np.float64)
    y = targets.astype(np.float64)
    w = np.ones(n) if sample_weight is None else sample_weight.astype(np.float64)
    w = w / w.sum()
    sd = sparse.dim if sparse is not None else 0
    l2s = float(np.mean(lam)) if l2_sparse is None else l2_sparse

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split the flat parameter vector into dense weights, bias and sparse weights."""
        wd = theta[: d * k].reshape(d, k)
        b = theta[d * k : d * k + k]
        ws = theta[d * k + k :].reshape(sd, k)
        return wd, b, ws

    def loss_grad(theta: np.ndarray) -> tuple[float, np.ndarray]:
        """Weighted cross-entropy plus L2, and its gradient."""
        wd, b, ws = unpack(theta)
        z = x @ wd + b
        if sparse is not None:
            z += sparse.dot(ws)
        if multilabel:
            p = sigmoid(z)
            eps = 1e-12
            ce = -(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)).sum(axis=1)
        else:
            zs = z - z.max(axis=1, keepdims=True)
            logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
            p = np.exp(logp)
            ce = -(y * logp).sum(axis=1)
        loss = float(w @ ce) + 0.5 * float((lam * wd * wd).sum()) / n
        g = (p - y) * w[:, None]
        gwd = x.T @ g + lam * wd / n
        gb = g.sum(axis=0)
        parts = [gwd.ravel(), gb]
        if sparse is not None:
            loss += 0.5 * l2s * float((ws * ws).sum()) / n
            parts.append((sparse.tdot(g) + l2s * ws / n).ravel())
        return loss, np.concatenate(parts)

    theta = lbfgs(loss_grad, np.zeros(d * k + k + sd * k), max_iter=max_iter)
    wd, b, ws = unpack(theta)
    return LinearModel(
        classes=tuple(classes),
        weights=wd.astype(np.float32),
        bias=b.astype(np.float32),
        mean=mean.astype(np.float32),
        scale=scale.astype(np.float32),
        multilabel=multilabel,
        sparse_weights=ws.astype(np.float32) if sparse is not None else None,
    )


def lbfgs(
    f: Callable[[np.ndarray], tuple[float, np.ndarray]],
    theta: np.ndarray,
    *,
    max_iter: int = 300,
    memory: int = 10,
    tol: float = 1e-6,
) -> np.ndarray:
    """Minimise a smooth convex function with limited-memory BFGS and backtracking line search."""
    loss, grad = f(theta)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    for _ in range(max_iter):
        q = grad.copy()
        alphas = []
        for s, yv in zip(reversed(s_hist), reversed(y_hist), strict=True):
            rho = 1.0 / float(yv @ s)
            a = rho * float(s @ q)
            alphas.append((a, rho, s, yv))
            q -= a * yv
        if s_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        else:
            q /= max(1.0, float(np.linalg.norm(q)))
        for a, rho, s, yv in reversed(alphas):
            q += s * (a - rho * float(yv @ q))
        direction = -q
        slope = float(grad @ direction)
        if slope >= 0:
            direction, slope = -grad, -float(grad @ grad)
        step = 1.0
        while True:
            candidate = theta + step * direction
            new_loss, new_grad = f(candidate)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s_new, y_new = candidate - theta, new_grad - grad
        theta, grad = candidate, new_grad
        improved = loss - new_loss
        loss = new_loss
        if float(y_new @ s_new) > 1e-10:
            s_hist.append(s_new)
            y_hist.append(y_new)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        if np.abs(grad).max() < tol or 0 <= improved < 1e-10:
            break
    return theta
