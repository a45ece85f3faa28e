"""Probability tails the detectors and trends need: normal, Poisson, binomial and beta-binomial, in numpy."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def normal_sf(z: float) -> float:
    """P(Z ≥ z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_two_sided(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z."""
    return min(1.0, math.erfc(abs(z) / math.sqrt(2.0)))


def lgamma_run(start: float, count: int) -> FloatArray:
    """lgamma(start + j) for j = 0 … count-1, built by the recurrence Γ(x+1) = xΓ(x) so it is vectorised."""
    if count <= 0:
        return np.zeros(0)
    steps = np.log(start + np.arange(count - 1, dtype=np.float64))
    return math.lgamma(start) + np.concatenate(([0.0], np.cumsum(steps)))


def log_sum_exp(values: FloatArray) -> float:
    """log Σ exp(values) without overflow; -inf for no values."""
    if values.size == 0:
        return -math.inf
    top = float(np.max(values))
    if top == -math.inf:
        return -math.inf
    return top + math.log(float(np.sum(np.exp(values - top))))


def poisson_sf(k: int, mu: float) -> float:
    """P(X ≥ k) for X ~ Poisson(mu), accurate far into the upper tail (sums the O(√mu) terms that matter)."""
    if k <= 0:
        return 1.0
    if mu <= 0.0:
        return 0.0
    span = int(50 + 15 * math.sqrt(max(mu, float(k))))
    if k > mu:
        # Terms shrink from k upwards; summing them directly keeps tiny tails exact.
        log_pmf = _poisson_log_pmf(k, span, mu)
        return min(1.0, math.exp(log_sum_exp(log_pmf)))
    low = max(0, k - span)
    lower = math.exp(log_sum_exp(_poisson_log_pmf(low, k - low, mu)))
    return max(0.0, 1.0 - lower)


def _poisson_log_pmf(start: int, count: int, mu: float) -> FloatArray:
    """log P(X = i) for i = start … start+count-1 under Poisson(mu)."""
    i = np.arange(start, start + count, dtype=np.float64)
    return i * math.log(mu) - mu - lgamma_run(start + 1.0, count)


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    i = np.arange(k, n + 1, dtype=np.float64)
    log_pmf = _log_choose(n, k) + i * math.log(p) + (n - i) * math.log1p(-p)
    return min(1.0, math.exp(log_sum_exp(log_pmf)))


def _log_choose(n: int, k: int) -> FloatArray:
    """log C(n, i) for i = k … n."""
    count = n - k + 1
    return math.lgamma(n + 1.0) - lgamma_run(k + 1.0, count) - lgamma_run(1.0, count)[::-1]


def binom_two_sided(k: int, n: int, p: float) -> float:
    """Two-sided p-value of k successes in n trials at rate p: twice the smaller tail, capped at 1."""
    upper = binom_sf(k, n, p)
    lower = binom_sf(n - k, n, 1.0 - p)
    return min(1.0, 2.0 * min(upper, lower))


def beta_binom_sf(k: int, n: int, a: float, b: float) -> float:
    """P(X ≥ k) for X ~ BetaBinomial(n, a, b): binomial counts whose rate is itself uncertain, Beta(a, b)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    count = n - k + 1
    log_beta = lgamma_run(k + a, count) + lgamma_run(b, count)[::-1] - math.lgamma(n + a + b)
    log_prior = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    log_pmf = _log_choose(n, k) + log_beta - log_prior
    return min(1.0, math.exp(log_sum_exp(log_pmf)))


def poisson_rates_two_sided(current: int, previous: int, current_exposure: float, previous_exposure: float) -> float:
    """Two-sided exact test that two Poisson counts share one rate: conditionally on their sum, a binomial split."""
    total = current + previous
    if total == 0:
        return 1.0
    share = current_exposure / (current_exposure + previous_exposure)
    return binom_two_sided(current, total, share)
