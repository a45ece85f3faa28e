"""PII redaction: emails, phones, payment cards, IBANs, US SSNs, IP addresses and secret-bearing URLs.

Each finding is replaced by a typed placeholder ([EMAIL], [PHONE], [CARD], [IBAN], [SSN], [IP], [URL]) so the text
stays readable for analysis. Detection is pattern-based with checksums where the format has one (Luhn for cards,
mod-97 for IBANs), and leans towards keeping ordinary numbers: prices, dates, times, years, percentages, flight
numbers and order numbers stay as written. A run of plain digits is a phone number only when it is a UK mobile
(07…, 11 digits) or has a phone's length and follows a word like "call" or "text" with no "order", "ref" or "#" near.

Out of scope: street addresses, personal names, dates of birth, passport and national ID numbers other than the
US SSN, and secrets outside URLs. Redaction is pure, deterministic, idempotent (placeholders are never redacted
again) and uses only the standard library; every pattern is linear in the text, so hostile input stays fast.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import unquote

EMAIL, PHONE, CARD, IBAN, SSN, IP, URL = "email", "phone", "card", "iban", "ssn", "ip", "url"
PLACEHOLDERS: dict[str, str] = {
    EMAIL: "[EMAIL]",
    PHONE: "[PHONE]",
    CARD: "[CARD]",
    IBAN: "[IBAN]",
    SSN: "[SSN]",
    IP: "[IP]",
    URL: "[URL]",
}


@dataclass(frozen=True, slots=True)
class Redaction:
    """Redacted text and how many findings of each kind were replaced."""

    text: str
    found: dict[str, int]


# --- URLs -------------------------------------------------------------------------------------------------------

# URLs are found from their "://" or "www." (a literal the regex engine finds fast), then read from the scheme on.
_URL_HINT = re.compile(r"://|www\.|WWW\.")
_URL = re.compile(
    r"(?<![\w+.\-])(?:[a-z][a-z0-9+.\-]{0,15}://|www\.)(?:\[[0-9a-f:.]{2,45}\]|[^\s<>\"'\[\]{}|\\^`])+",
    re.IGNORECASE,
)
_SCHEME_CHARS = frozenset(string.ascii_letters + string.digits + "+.-")
_TRAILING_PUNCTUATION = ".,;:!?)'\""
# Parameter names whose value is a credential: whole names, parts of compound names (client_secret, X-Amz-Signature)
# and endings of names written together (accessToken, apikey). Plain "code" and "key" only count as whole names
# (OAuth codes, API keys) so promo_code or sort_key stay readable.
_SECRET_NAMES = frozenset({"key", "code", "ticket", "authorization", "passcode", "pass", "sid"})
_SECRET_PARTS = frozenset(
    {"token", "secret", "password", "passwd", "pwd", "otp", "jwt", "sig", "signature", "auth", "session", "sessionid"}
)
_SECRET_ENDINGS = (
    "token", "secret", "password", "passwd", "signature", "apikey", "accesskey", "privatekey", "credential",
    "credentials", "sessionid", "authcode",
)  # fmt: skip
_NAME_SEPARATORS = re.compile(r"[^a-z0-9]+")


def _is_secret_key(name: str) -> bool:
    """Whether a query parameter name suggests its value is a credential (token, password, key, signature…)."""
    name = name.strip().lower()
    if name in _SECRET_NAMES:
        return True
    parts = _NAME_SEPARATORS.split(name)
    return "".join(parts).endswith(_SECRET_ENDINGS) or not _SECRET_PARTS.isdisjoint(parts)


# Parameter names anywhere in a query or fragment, including those of a URL nested in a parameter's value.
_PARAM_NAME = re.compile(r"(?:^|[?&;#])([^=&;#?]{1,64})=")


def _has_secret(params: str) -> bool:
    """Whether a query string or fragment carries any secret-looking parameter."""
    return any(_is_secret_key(name) for name in _PARAM_NAME.findall(unquote(params)))


def _split_trailing(url: str) -> tuple[str, str]:
    """Separate sentence punctuation glued to the end of a URL, keeping balanced closing parentheses."""
    end = len(url)
    while end and url[end - 1] in _TRAILING_PUNCTUATION:
        if url[end - 1] == ")" and url.count("(", 0, end) >= url.count(")", 0, end):
            break
        end -= 1
    return url[:end], url[end:]


def _redact_url(url: str) -> str | None:
    """The URL with credentials and secret-bearing query or fragment replaced, or None if it carries no secret."""
    prefix, sep, rest = url.partition("://")
    if not sep:
        prefix, rest = "", url
    else:
        prefix += sep
    authority_end = len(rest)
    for mark in "/?#":
        index = rest.find(mark)
        if index != -1:
            authority_end = min(authority_end, index)
    authority, tail = rest[:authority_end], rest[authority_end:]
    tail, hash_mark, fragment = tail.partition("#")
    path, question_mark, query = tail.partition("?")
    userinfo, at, host = authority.rpartition("@")
    secret_userinfo = bool(at and userinfo)
    secret_query = _has_secret(query)
    secret_fragment = _has_secret(fragment)
    if not (secret_userinfo or secret_query or secret_fragment):
        return None
    placeholder = PLACEHOLDERS[URL]
    return (
        prefix
        + (f"{placeholder}@" if secret_userinfo else "")
        + host
        + path
        + question_mark
        + (placeholder if secret_query else query)
        + hash_mark
        + (placeholder if secret_fragment else fragment)
    )


def _find_url(text: str, at: int, floor: int) -> tuple[int, int, str | None] | None:
    """The URL around a "://" or "www." at `at` (starting no earlier than floor), redacted if it carries secrets."""
    start = at
    if text.startswith("://", at):
        limit = max(floor, at - 16)
        while start > limit and text[start - 1] in _SCHEME_CHARS:
            start -= 1
    match = _URL.match(text, start)
    if match is None:
        return None
    url, trailing = _split_trailing(match.group())
    redacted = _redact_url(url)
    return start, match.end(), None if redacted is None else redacted + trailing


# --- emails -----------------------------------------------------------------------------------------------------

# Emails are found from their "@": the local part is read backwards from it, then the whole address matched.
_AT = re.compile("@")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-\[\]])[A-Za-z0-9._%+\-]{1,64}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_LOCAL_PART_CHARS = frozenset(string.ascii_letters + string.digits + "._%+-")


def _find_email(text: str, at: int, floor: int) -> tuple[int, int, str | None] | None:
    """The email address whose "@" is at `at` (starting no earlier than floor), if any."""
    start, limit = at, max(floor, at - 64)
    while start > limit and text[start - 1] in _LOCAL_PART_CHARS:
        start -= 1
    match = _EMAIL.match(text, start) if start < at else None
    return None if match is None else (start, match.end(), PLACEHOLDERS[EMAIL])


# --- IBANs ------------------------------------------------------------------------------------------------------

_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
# Anchored on the check digits (a pattern that starts with a digit class is scanned much faster): two letters not
# glued to a word before them, then greedily up to the longest IBAN; the country's fixed length decides the end.
_IBAN = re.compile(r"\d(?<=[A-Za-z]{2}\d)(?<![A-Za-z0-9][A-Za-z]{2}\d)\d(?: ?[A-Za-z0-9]){10,30}", re.ASCII)


def iban_valid(compact: str) -> bool:
    """Whether an IBAN without spaces has its country's length and passes the ISO 13616 mod-97 check."""
    compact = compact.upper()
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum() or not compact.isascii():
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


def _iban_length(candidate: str) -> int:
    """How many characters from the candidate's start form a valid IBAN, or 0 if none does."""
    length = _IBAN_LENGTHS.get(candidate[:2].upper())
    if length is None:
        return 0
    seen = end = 0
    while end < len(candidate) and seen < length:
        seen += candidate[end] != " "
        end += 1
    if seen < length or (end < len(candidate) and candidate[end] != " "):
        return 0
    written = candidate[:end]
    # One case throughout and mostly digits: a real IBAN, not a flight code followed by words ("BA12 leaves at…").
    if not (written.isupper() or written.islower()) or sum(ch.isdigit() for ch in written) < 8:
        return 0
    return end if iban_valid(written.replace(" ", "")) else 0


def _redact_ibans(text: str) -> tuple[str, int]:
    """Replace valid IBANs; a candidate may run past its IBAN into the next one, so scanning resumes where it ends."""
    pieces: list[str] = []
    copied = search_from = count = 0
    while (match := _IBAN.search(text, search_from)) is not None:
        start = match.start() - 2
        length = _iban_length(text[start : match.end()])
        if length:
            pieces += [text[copied:start], PLACEHOLDERS[IBAN]]
            copied = search_from = start + length
            count += 1
        else:
            search_from = match.start() + 1
    pieces.append(text[copied:])
    return "".join(pieces), count


# --- payment cards ----------------------------------------------------------------------------------------------

# Patterns start with a character class and check what precedes it with a lookbehind after the first character, so
# the regex engine can skip quickly to candidate characters instead of trying every position. Digit patterns are
# ASCII-only: digits of other scripts are left as written.
_CARD = re.compile(r"[2-6](?<![\w.,\-+#/$€£¥][2-6])\d(?:[ \-]?\d){11,17}(?![\w%]|[.,\-/]\d)", re.ASCII)


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn checksum used by payment card numbers."""
    total = 0
    for position, ch in enumerate(reversed(digits)):
        value = ord(ch) - 48
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str | None:
    """Replacement for a card candidate (13–19 digits), only when its Luhn check passes."""
    digits = match.group().replace(" ", "").replace("-", "")
    return PLACEHOLDERS[CARD] if 13 <= len(digits) <= 19 and luhn_valid(digits) else None


# --- US social security numbers ---------------------------------------------------------------------------------

_SSN = re.compile(r"(\d(?<![\w\-./]\d)\d{2})-(\d{2})-(\d{4})(?![\w]|[\-.]\d)", re.ASCII)


def _ssn(match: re.Match[str]) -> str | None:
    """Replacement for an SSN candidate whose area, group and serial are all assignable."""
    area, group, serial = match.groups()
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return PLACEHOLDERS[SSN]


# --- IP addresses -----------------------------------------------------------------------------------------------

_IPV4 = re.compile(r"\d(?<![\w.]\d)\d{0,2}(?:\.\d{1,3}){3}(?![\w]|\.\d)", re.ASCII)
_IPV6 = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)[0-9A-Fa-f:]{2,45}(?:\.\d{1,3}\.\d{1,3}\.\d{1,3})?(?![\w:])",
    re.ASCII,
)
_VERSION_CONTEXT = re.compile(r"\b(?:version|ver\.?|build|release|v)\s*$", re.IGNORECASE)


def _ipv4(match: re.Match[str]) -> str | None:
    """Replacement for a dotted quad with octets 0–255 (no leading zeros), unless it reads as a version number."""
    octets = match.group().split(".")
    if any(int(octet) > 255 or (len(octet) > 1 and octet[0] == "0") for octet in octets):
        return None
    if _VERSION_CONTEXT.search(match.string, max(0, match.start() - 12), match.start()):
        return None
    return PLACEHOLDERS[IP]


def _ipv6(match: re.Match[str]) -> str | None:
    """Replacement for a valid IPv6 address containing a digit (so words like 'add::bad' stay as written)."""
    candidate = match.group()
    if not any(ch.isdigit() for ch in candidate):
        return None
    address = candidate
    if not _ipv6_valid(address) and address.endswith(":") and not address.endswith("::"):
        address = address[:-1]  # a colon that ends the sentence, not the address
    return PLACEHOLDERS[IP] + candidate[len(address) :] if _ipv6_valid(address) else None


def _ipv6_valid(address: str) -> bool:
    """Whether the string is a syntactically valid IPv6 address."""
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


# --- phone numbers ----------------------------------------------------------------------------------------------

# Alternatives, each with a phone's shape, chosen by the first character (re-read with a lookbehind): international
# (+CC or 00CC, grouped, or compact after +), North American ((415) 555-2671, 415-555-2671, 1-415-555-2671),
# national numbers with a trunk 0 and one consistent separator (UK 020 7946 0958, FR 06 12 34 56 78, DE 030/12345678,
# NL 06-12345678) and UK mobiles written compactly (07700900123). Other compact numbers (4155552671, 0201234567) are
# only phones right after a word like "call" or "text" (see _cued). Not glued to a word, a sign or another number
# ("1.415…" is a number, "…415" after an ellipsis may be a phone).
_PHONE = re.compile(
    r"""
    [+\d(](?<![\w+\#$€£¥/\-][+\d(])(?<!\d[.,][+\d(])
    (?:
        (?<=\+)(?P<compact>\d{8,15})
      | (?<=\+)(?P<intl>\d{1,3}(?:[ .\-]?\(\d{1,4}\))?[ .\-]?\d{1,8}(?:[ .\-]\d{1,8}){0,5})
      | (?<=0)(?P<intl00>0[1-9]\d{0,2}(?:[ .\-]?\(\d{1,4}\))?[ .\-]?\d{1,8}(?:[ .\-]\d{1,8}){0,5})
      | (?<=0)(?P<national>[1-9]\d{0,3}(?P<s1>[ .\-/])\d{2,8}(?:(?P=s1)\d{2,8}){0,4})
      | (?<=0)(?P<mobile>7\d{9})
      | (?<=0)(?P<bare_national>[1-9]\d{8,9})
      | (?<=\()(?P<nanp_parens>[2-9]\d{2}\)[ .\-]?[2-9]\d{2}[ .\-]\d{4})
      | (?<=1)(?P<nanp_one>[ .\-]?\([2-9]\d{2}\)[ .\-]?[2-9]\d{2}[ .\-]\d{4}
          | [ .\-][2-9]\d{2}(?P<s2>[ .\-])[2-9]\d{2}(?P=s2)\d{4})
      | (?<=1)(?P<bare_nanp_one>[2-9]\d{2}[2-9]\d{6})
      | (?<=[2-9])(?P<nanp>\d{2}(?P<s3>[ .\-])[2-9]\d{2}(?P=s3)\d{4})
      | (?<=[2-9])(?P<bare_nanp>\d{2}[2-9]\d{6})
    )
    (?![\w%]|[.,/\-]\d)
    """,
    re.VERBOSE | re.ASCII,
)
_BARE = ("bare_national", "bare_nanp_one", "bare_nanp")
# A word saying a phone number follows, with no identifier word anywhere near ("order", "ref"…) and nothing between
# the cue and the number that makes it another number (a digit, "#", a placeholder).
_PHONE_CUE = re.compile(
    r"\b(?:call|phone|tel\b|mobile|cell|text|sms|whatsapp|ring|reach|contact|number)", re.IGNORECASE
)
_ID_WORD = re.compile(
    r"\b(?:order|ref|reference|ticket|claim|booking|confirmation|account|invoice|tracking|case|id)\b", re.IGNORECASE
)
_BETWEEN_VETO = re.compile(r"[\d#\[\]]")


def _cued(text: str, start: int) -> bool:
    """Whether the 32 characters before `start` hold a phone cue, close enough and not vetoed."""
    window = text[max(0, start - 32) : start]
    cue = max(_PHONE_CUE.finditer(window), key=lambda match: match.end(), default=None)
    if cue is None or _ID_WORD.search(window):
        return False
    return _BETWEEN_VETO.search(window, cue.end()) is None


def _phone(match: re.Match[str]) -> str | None:
    """Replacement for a phone-shaped candidate whose digit count fits its form."""
    text = match.group()
    digits = sum(ch.isdigit() for ch in text)
    if match.group("intl") is not None or match.group("intl00") is not None:
        digits -= (2 if text.startswith("00") else 0) + (1 if "(0)" in text else 0)
        return PLACEHOLDERS[PHONE] if 9 <= digits <= 15 else None
    if match.group("national") is not None:
        return PLACEHOLDERS[PHONE] if 9 <= digits <= 12 else None
    if match.lastgroup in _BARE and not _cued(match.string, match.start()):
        return None
    return PLACEHOLDERS[PHONE]


# --- the pipeline -----------------------------------------------------------------------------------------------

_DIGIT = re.compile(r"\d")
_Pass = Callable[[str], tuple[str, int]]
_Replacement = Callable[[re.Match[str]], str | None]
# A finder gets the text, a hint's position and where the previous finding ended; it returns a span and its
# replacement (None for a candidate to keep as written but not look inside again), or None when nothing is there.
_Finder = Callable[[str, int, int], tuple[int, int, str | None] | None]


def _substitute(pattern: re.Pattern[str], replacement: _Replacement, text: str) -> tuple[str, int]:
    """Apply one pass: accepted candidates replaced and counted, rejected ones kept as written."""
    count = 0

    def substitute(match: re.Match[str]) -> str:
        """The replacement for one candidate, or the candidate itself."""
        nonlocal count
        replaced = replacement(match)
        if replaced is None:
            return match.group()
        count += 1
        return replaced

    return pattern.sub(substitute, text), count


def _anchored(hint: re.Pattern[str], find: _Finder, text: str) -> tuple[str, int]:
    """Apply one pass that looks for findings around fast-to-find hints, left to right, without overlaps."""
    pieces: list[str] = []
    copied = skipped = count = 0
    for match in hint.finditer(text):
        if match.start() < skipped:
            continue
        found = find(text, match.start(), skipped)
        if found is None:
            continue
        start, end, replacement = found
        skipped = end
        if replacement is not None:
            pieces += [text[copied:start], replacement]
            copied = end
            count += 1
    pieces.append(text[copied:])
    return "".join(pieces), count


def _redact_ipv6(text: str) -> tuple[str, int]:
    """Replace IPv6 addresses, skipping texts that cannot hold one (a valid address has "::" or seven colons)."""
    if "::" not in text and text.count(":") < 7:
        return text, 0
    return _substitute(_IPV6, _ipv6, text)


# Order matters: URLs first (their queries may hold anything), then emails, then digit patterns from the most
# specific (checksummed) to the least, so a card is never half-read as a phone number. IPv6 goes before IPv4 so an
# embedded dotted quad (::ffff:192.0.2.1) is taken with its address.
_TEXT_PASSES: tuple[tuple[str, _Pass], ...] = (
    (URL, partial(_anchored, _URL_HINT, _find_url)),
    (EMAIL, partial(_anchored, _AT, _find_email)),
)
_DIGIT_PASSES: tuple[tuple[str, _Pass], ...] = (
    (IBAN, _redact_ibans),
    (CARD, partial(_substitute, _CARD, _card)),
    (SSN, partial(_substitute, _SSN, _ssn)),
    (IP, _redact_ipv6),
    (IP, partial(_substitute, _IPV4, _ipv4)),
    (PHONE, partial(_substitute, _PHONE, _phone)),
)


def redact(text: str) -> Redaction:
    """Replace emails, phones, cards, IBANs, SSNs, IPs and secret-bearing URL parts with typed placeholders."""
    found: dict[str, int] = {}
    # Redaction never adds digits, so a text without any skips every digit pattern.
    passes = _TEXT_PASSES + _DIGIT_PASSES if _DIGIT.search(text) else _TEXT_PASSES
    for kind, apply in passes:
        text, count = apply(text)
        if count:
            found[kind] = found.get(kind, 0) + count
    return Redaction(text, found)
