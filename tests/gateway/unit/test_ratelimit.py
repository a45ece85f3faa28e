"""The per-key token bucket."""

from cxm_gateway.domain.ratelimit import RateLimiter


def test_allows_the_burst_then_asks_to_retry_after_whole_seconds() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.check("k", 0.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.check("k", 0.0) == 1


def test_refills_over_time_and_keeps_keys_apart() -> None:
    limiter = RateLimiter(rate=1, burst=1)
    assert limiter.check("a", 0.0) == 0
    assert limiter.check("a", 0.5) == 1
    assert limiter.check("b", 0.5) == 0
    assert limiter.check("a", 1.6) == 0


def test_a_slow_rate_says_how_long_to_wait() -> None:
    limiter = RateLimiter(rate=0.1, burst=1)
    limiter.check("k", 0.0)
    assert limiter.check("k", 0.0) == 10
