"""Probability tails agree with their textbook definitions, deep into the tail."""

import math

import pytest

from cxm_insight.domain.stats import (
    beta_binom_sf,
    binom_sf,
    binom_two_sided,
    normal_sf,
    normal_two_sided,
    poisson_rates_two_sided,
    poisson_sf,
)


def poisson_by_definition(k: int, mu: float) -> float:
    return 1.0 - sum(math.exp(-mu) * mu**i / math.factorial(i) for i in range(k))


def binomial_by_definition(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def beta_binomial_by_definition(k: int, n: int, a: float, b: float) -> float:
    def beta(x: float, y: float) -> float:
        return math.exp(math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y))

    return sum(math.comb(n, i) * beta(i + a, n - i + b) / beta(a, b) for i in range(k, n + 1))


@pytest.mark.parametrize(("k", "mu"), [(0, 3.0), (1, 3.0), (3, 3.0), (10, 3.0), (4, 5.0), (100, 80.0), (60, 80.0)])
def test_the_poisson_tail_matches_its_definition(k: int, mu: float) -> None:
    assert poisson_sf(k, mu) == pytest.approx(poisson_by_definition(k, mu), rel=1e-9, abs=1e-15)


def test_the_poisson_tail_stays_exact_where_one_minus_the_cdf_would_underflow() -> None:
    exact = math.exp(-5) * 5**40 / math.factorial(40) * (1 + 5 / 41 + 25 / (41 * 42))
    assert poisson_sf(40, 5.0) == pytest.approx(exact, rel=1e-3)
    assert 0.0 < poisson_sf(200, 5.0) < 1e-200
    assert poisson_sf(5, 0.0) == 0.0


@pytest.mark.parametrize(("k", "n", "p"), [(3, 10, 0.2), (0, 10, 0.2), (10, 10, 0.5), (30, 100, 0.2), (11, 10, 0.5)])
def test_the_binomial_tail_matches_its_definition(k: int, n: int, p: float) -> None:
    assert binom_sf(k, n, p) == pytest.approx(binomial_by_definition(k, n, p), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize(("k", "n", "a", "b"), [(3, 10, 2.5, 7.5), (20, 50, 10.5, 40.5), (1, 3, 0.5, 0.5)])
def test_the_beta_binomial_tail_matches_its_definition(k: int, n: int, a: float, b: float) -> None:
    assert beta_binom_sf(k, n, a, b) == pytest.approx(beta_binomial_by_definition(k, n, a, b), rel=1e-9)


def test_normal_tails() -> None:
    assert normal_sf(0.0) == pytest.approx(0.5)
    assert normal_sf(1.959964) == pytest.approx(0.025, rel=1e-5)
    assert normal_two_sided(-1.959964) == pytest.approx(0.05, rel=1e-5)


def test_two_sided_tests_are_symmetric_and_capped() -> None:
    assert binom_two_sided(5, 10, 0.5) == 1.0
    assert binom_two_sided(0, 10, 0.5) == pytest.approx(2 * 0.5**10)
    assert poisson_rates_two_sided(30, 10, 1.0, 1.0) == pytest.approx(binom_two_sided(30, 40, 0.5))
    assert poisson_rates_two_sided(0, 0, 1.0, 1.0) == 1.0
