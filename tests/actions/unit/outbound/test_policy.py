"""After an attempt: delivered, retried later (with backoff and jitter), failed, or the subscription disabled."""

from __future__ import annotations

import pytest

from cxm_actions.outbound.policy import BACKOFF_S, Outcome, outcome, printable, retry_delay, truncate


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_delivers(status: int) -> None:
    assert outcome(status, attempts=1, max_attempts=8) is Outcome.DELIVERED


def test_410_gone_disables_the_subscription_at_once() -> None:
    assert outcome(410, attempts=1, max_attempts=8) is Outcome.GONE


@pytest.mark.parametrize("status", [None, 301, 400, 401, 404, 429, 500, 503])
def test_other_answers_and_no_answer_are_retried_until_the_attempts_run_out(status: int | None) -> None:
    assert outcome(status, attempts=7, max_attempts=8) is Outcome.RETRY
    assert outcome(status, attempts=8, max_attempts=8) is Outcome.FAILED


def test_the_backoff_grows_from_seconds_to_hours_and_then_repeats() -> None:
    delays = [retry_delay(n, jitter=0) for n in range(1, 11)]
    assert delays[:7] == [5, 30, 120, 600, 3600, 3 * 3600, 6 * 3600]
    assert delays[8] == delays[9] == BACKOFF_S[-1]


def test_jitter_spreads_the_delay_both_ways_within_its_bound() -> None:
    assert retry_delay(2, jitter=0.2, rand=lambda: 0.0) == pytest.approx(24)
    assert retry_delay(2, jitter=0.2, rand=lambda: 1.0) == pytest.approx(36)
    assert retry_delay(2, jitter=0.2, rand=lambda: 0.5) == pytest.approx(30)


def test_a_custom_schedule_is_used_as_given() -> None:
    assert [retry_delay(n, (0.1, 0.2), jitter=0) for n in (1, 2, 3)] == [0.1, 0.2, 0.2]


def test_long_errors_are_truncated_and_marked() -> None:
    assert truncate("short") == "short"
    cut = truncate("x" * 1000, 20)
    assert len(cut) == 20 and cut.endswith("…")


def test_errors_are_kept_on_one_line_without_control_characters() -> None:
    assert printable("bad\x00gateway\r\n  <html>\tdown") == "bad gateway <html> down"
