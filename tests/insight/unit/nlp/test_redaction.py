"""PII redaction: what is replaced, what ordinary text keeps, and that hostile input stays fast."""

from __future__ import annotations

import random
import time

import pytest

from cxm_insight.nlp.redaction import Redaction, iban_valid, luhn_valid, redact

# --- each kind is found and replaced by its placeholder ---------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    ["jane.roe@example.com", "j.o-e+cx@mail.example.co.uk", "SUPPORT_2@Example.ORG"],
)
def test_email_addresses_are_replaced(address: str) -> None:
    assert redact(f"write to {address} today") == Redaction("write to [EMAIL] today", {"email": 1})


@pytest.mark.parametrize(
    "number",
    [
        "+44 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+1 (415) 555-2671",
        "+33 1 23 45 67 89",
        "+49 30 901820",
        "+447946095812",
        "0044 20 7946 0958",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "1-800-555-0199",
        "020 7946 0958",
        "07700 900123",
        "07700900123",
        "06 12 34 56 78",
        "030/12345678",
        "06-12345678",
    ],
)
def test_phone_numbers_in_international_us_uk_and_eu_forms_are_replaced(number: str) -> None:
    assert redact(f"call me on {number}, thanks") == Redaction("call me on [PHONE], thanks", {"phone": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("please call me 9148445695", "please call me [PHONE]"),
        ("text me on 07911123456 thanks", "text me on [PHONE] thanks"),
        ("my number is 4155552671", "my number is [PHONE]"),
        ("on hold for an hour...919-675-0985", "on hold for an hour...[PHONE]"),
    ],
)
def test_plain_digit_phone_numbers_are_replaced_after_a_word_that_announces_them(text: str, expected: str) -> None:
    assert redact(text) == Redaction(expected, {"phone": 1})


@pytest.mark.parametrize(
    "text",
    [
        "my order number is 4155552671",
        "I called 3 times about 4155552671",
        "please call, claim #3526665682",
        "booking 9148445695 was cancelled",
    ],
)
def test_plain_digit_identifiers_are_kept_even_near_a_phone_word(text: str) -> None:
    assert redact(text).found.get("phone") is None


@pytest.mark.parametrize(
    "number",
    ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5555 5555 5555 4444", "3782 822463 10005"],
)
def test_card_numbers_passing_the_luhn_check_are_replaced(number: str) -> None:
    assert redact(f"my card {number} was charged") == Redaction("my card [CARD] was charged", {"card": 1})


def test_sixteen_digits_failing_the_luhn_check_are_kept() -> None:
    text = "reference 4111 1111 1111 1112 and 1234567812345678"
    assert not luhn_valid("4111111111111112")
    assert redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "DE89 3704 0044 0532 0130 00",
        "FR14 2004 1010 0505 0001 3M02 606",
    ],
)
def test_ibans_passing_the_mod_97_check_are_replaced(iban: str) -> None:
    assert redact(f"pay into {iban} please") == Redaction("pay into [IBAN] please", {"iban": 1})


def test_an_iban_with_a_bad_check_is_kept() -> None:
    text = "pay into GB82 WEST 1234 5698 7654 33 please"
    assert not iban_valid("GB82WEST12345698765433")
    assert redact(text) == Redaction(text, {})


def test_two_ibans_written_one_after_the_other_are_both_replaced() -> None:
    text = "from GB82 WEST 1234 5698 7654 32 to DE89370400440532013000"
    assert redact(text) == Redaction("from [IBAN] to [IBAN]", {"iban": 2})


def test_a_us_ssn_is_replaced_only_with_an_assignable_area() -> None:
    assert redact("SSN 123-45-6789") == Redaction("SSN [SSN]", {"ssn": 1})
    for unassignable in ("000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"):
        assert redact(f"SSN {unassignable}").found == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from 192.168.1.10 today", "from [IP] today"),
        ("server 10.0.0.1:8080 down", "server [IP]:8080 down"),
        ("from 2001:db8::8a2e:370:7334 today", "from [IP] today"),
        ("loopback ::1 works", "loopback [IP] works"),
        ("mapped ::ffff:192.0.2.1 too", "mapped [IP] too"),
    ],
)
def test_ipv4_and_ipv6_addresses_are_replaced(text: str, expected: str) -> None:
    assert redact(text) == Redaction(expected, {"ip": 1})


def test_things_that_only_look_like_ip_addresses_are_kept() -> None:
    text = "app version 2.14.1.3, v1.2.3.4, 999.1.1.1, at 10:30:00, MAC 00:1A:2B:3C:4D:5E"
    assert redact(text) == Redaction(text, {})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.example.com/reset?token=abc123&u=5", "https://app.example.com/reset?[URL]"),
        ("https://ex.com/cb?access_token=xyz", "https://ex.com/cb?[URL]"),
        ("https://ex.com/login?user=jo&password=hunter2", "https://ex.com/login?[URL]"),
        ("https://ex.com/cb#access_token=xyz&token_type=bearer", "https://ex.com/cb#[URL]"),
        ("https://s3.example.com/b/k?X-Amz-Signature=abc", "https://s3.example.com/b/k?[URL]"),
        ("https://maps.example.com/api?key=AIzaSy", "https://maps.example.com/api?[URL]"),
        ("https://bob:hunter2@files.example.com/x.csv", "https://[URL]@files.example.com/x.csv"),
        ("www.shop.example/login?apiKey=s3cr3t", "www.shop.example/login?[URL]"),
        ("https://a.example/r?next=https%3A%2F%2Fb.example%2F%3Ftoken%3Dx", "https://a.example/r?[URL]"),
    ],
)
def test_urls_keep_their_host_and_lose_credentials_and_tokens(url: str, expected: str) -> None:
    assert redact(f"open {url}.") == Redaction(f"open {expected}.", {"url": 1})


def test_urls_without_secrets_are_kept() -> None:
    text = "see https://example.com/docs?page=2&sort_key=date&promo_code=SAVE10 (and www.example.org/help)."
    assert redact(text) == Redaction(text, {})


# --- ordinary text is never redacted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Paid $1,299.99 and £0.99 and 1.299,00 € and 100 000 000 yen",
        "on 2024-03-15, 15/03/2024, 03.15.2024, 01.02.2024 10:30 and 15 March 2024",
        "at 14:30, 9.45am, 0900-1730 and 10:30:00",
        "flight UA 1234, BA0117 and LH 400 from gate 12",
        "order #123456, #4111111111111111, ref 12345678 and ticket 0123456789",
        "12.5% off, +30 000 000 users, in 2023 and 1999",
        "I called 3 times in 2 days and waited 45 minutes",
        "ba12 leaves at 10am tomorrow morning sharp",
    ],
)
def test_ordinary_numbers_are_kept(text: str) -> None:
    assert redact(text) == Redaction(text, {})


def test_unicode_text_is_untouched() -> None:
    text = "Привет! 你好，服务很好。 café naïve résumé ☕ 😀 — ١٢٣ ٤٥٦ 100 %"
    assert redact(text) == Redaction(text, {})


def test_digits_of_other_scripts_are_untouched() -> None:
    text = "٤١١١ ١١١١ ١١١١ ١١١١ and ４１５-５５５-２６７１ and ١٢٣-٤٥-٦٧٨٩"
    assert redact(text) == Redaction(text, {})


def test_empty_text_is_returned_as_is() -> None:
    assert redact("") == Redaction("", {})


# --- mixed text, counts and stability ---------------------------------------------------------------------------

MIXED = (
    "Hi, I'm jane.roe@example.com (or +44 20 7946 0958 / 07700 900123). You charged card 4111 1111 1111 1111 "
    "twice for order #883120 on 12/03/2024 ($49.99). Refund to GB82 WEST 1234 5698 7654 32. My SSN is 123-45-6789, "
    "I logged in from 192.168.1.10 and the reset link https://app.example.com/reset?token=abc123 failed."
)


def test_mixed_text_has_every_kind_replaced_and_counted() -> None:
    result = redact(MIXED)
    assert result.text == (
        "Hi, I'm [EMAIL] (or [PHONE] / [PHONE]). You charged card [CARD] "
        "twice for order #883120 on 12/03/2024 ($49.99). Refund to [IBAN]. My SSN is [SSN], "
        "I logged in from [IP] and the reset link https://app.example.com/reset?[URL] failed."
    )
    assert result.found == {"email": 1, "phone": 2, "card": 1, "iban": 1, "ssn": 1, "ip": 1, "url": 1}


@pytest.mark.parametrize(
    "text",
    [
        MIXED,
        "https://[URL]@files.example.com and [EMAIL]@example.com and [PHONE] [CARD] [IBAN] [SSN] [IP]",
        "user@host.example/x and https://u@h.example/?sig=1#code=2 and fe80::1: up",
        "call +44 20 7946 0958 or 4155552671, then text 07911123456",
    ],
)
def test_redaction_is_idempotent(text: str) -> None:
    once = redact(text)
    twice = redact(once.text)
    assert twice.text == once.text
    assert twice.found == {}


def test_redaction_is_deterministic() -> None:
    assert redact(MIXED) == redact(MIXED)


# --- speed ------------------------------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    """The least CPU time of a few redactions of `text` (CPU time: other work on the machine barely moves it)."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        redact(text)
        best = min(best, time.process_time() - start)
    return best


def _grows_linearly(text: str) -> bool:
    """Whether redacting ten times the text takes about ten times as long (a quadratic pattern takes ~100×).

    Speed itself is a benchmark's business (`insight.analysis_1core`); this guards against patterns whose time
    explodes with the input, comparing two sizes measured one after the other.
    """
    short = text[: len(text) // 10]
    return _seconds(text) < 30 * max(_seconds(short), 1e-4)


def test_redaction_time_grows_linearly_with_an_ordinary_message() -> None:
    story = (
        "I ordered a sofa on 12/03/2024 (order #883120, $1,299.00) and was promised delivery within 10 days. "
        "It is now 5 weeks later, I have called 6 times, waited 45 minutes each time, and flight UA 1234 I took "
        "to visit my mother was the only thing that ran on time. Reach me at jane.roe@example.com. "
    )
    assert _grows_linearly(story * 200)


def test_redaction_time_grows_linearly_with_a_message_dense_with_personal_data() -> None:
    assert _grows_linearly((MIXED + " ") * 120)


@pytest.mark.parametrize(
    "alphabet",
    ["0123456789@", "0123456789@ .-+()", "0123456789abcdefABCDEF:.@ ", "GB82 ", "a://"],
)
def test_redaction_time_grows_linearly_with_hostile_input(alphabet: str) -> None:
    rng = random.Random(7)
    hostile = "".join(rng.choice(alphabet) for _ in range(100_000)) if len(alphabet) > 5 else alphabet * 25_000
    assert _grows_linearly(hostile)
