"""Small pure helpers shared by the source adapters: config checks, signatures, JSON, timestamps, customers, scores."""

from __future__ import annotations

import hmac
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cxm_ingest.domain.records import CustomerRef
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest

TIMESTAMP_TOLERANCE_S = 300


# --- config ---------------------------------------------------------------------------------------------------------


def check_config(
    config: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, str]:
    """Validate a flat config of non-empty strings: no unknown keys, every required key present; return it stripped."""
    if not isinstance(config, Mapping):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(str(key) for key in config if key not in required and key not in optional)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; expected {', '.join(required + optional)}")
    prepared: dict[str, str] = {}
    for key in required + optional:
        value = config.get(key)
        if value is None and key in optional:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and key in optional:
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"config field {key!r} is required and must be a non-empty string")
        prepared[key] = value.strip()
    return prepared


# --- signatures -----------------------------------------------------------------------------------------------------


def header(request: WebhookRequest, name: str) -> str | None:
    """A header's value stripped, or None when it is missing or blank (names are lower-case)."""
    value = request.headers.get(name.lower())
    if value is None:
        return None
    value = value.strip()
    return value or None


def require_header(request: WebhookRequest, name: str) -> str:
    """A header's value, or Refused when it is missing or blank."""
    value = header(request, name)
    if value is None:
        raise Refused(f"missing {name} header")
    return value


def same_signature(expected: str, given: str) -> bool:
    """Constant-time comparison of two signature strings (non-ASCII input simply never matches)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", errors="replace"))


def strip_prefix(value: str, prefix: str) -> str:
    """The value after a required scheme prefix such as `sha256=`; Refused when the prefix is wrong."""
    if not value.startswith(prefix):
        raise Refused(f"signature must start with {prefix!r}")
    return value[len(prefix) :]


def within_tolerance(signed_at: datetime, now: datetime, tolerance_s: int = TIMESTAMP_TOLERANCE_S) -> bool:
    """Whether a signed timestamp is within the tolerance of our clock, in either direction."""
    return abs((now - signed_at).total_seconds()) <= tolerance_s


# --- JSON -----------------------------------------------------------------------------------------------------------


def load_json(body: bytes) -> Any:
    """The body parsed as strict JSON; BadPayload on invalid UTF-8, invalid JSON or absurd nesting."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload("body is not UTF-8") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise BadPayload("body is not valid JSON") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_FLAT_KEY = re.compile(r'(?:^|[{,])\s*"([A-Za-z0-9_.\-]+)"\s*:\s*')


def load_lenient_object(body: bytes) -> dict[str, Any] | None:
    """A JSON object, tolerating raw control characters and unescaped quotes in a flat template body; else None.

    Admin-written templates (e.g. Zendesk triggers) may render placeholder values unescaped, so a comment with a `"`
    or a newline breaks strict JSON. The fallback reads a flat `{"key": value, …}` object by its keys.
    """
    text = body.decode("utf-8", errors="replace").strip()
    try:
        value = json.loads(text, strict=False, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        value = _read_flat_object(text)
    return value if isinstance(value, dict) else None


def _read_flat_object(text: str) -> dict[str, Any] | None:
    if not (text.startswith("{") and text.endswith("}")):
        return None
    inner = text[:-1]
    matches = list(_FLAT_KEY.finditer(inner))
    if not matches or matches[0].start() != 0:
        return None
    result: dict[str, Any] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(inner)
        result[match.group(1)] = _read_flat_value(inner[match.end() : end].strip())
    return result


def _read_flat_value(raw: str) -> Any:
    if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
        return raw[1:-1].replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return raw


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty dict (for optional nested objects)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """The value if it is a JSON array, else an empty list."""
    return value if isinstance(value, list) else []


def as_text(value: Any) -> str | None:
    """A string or number as stripped text, or None for anything else or blank."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value.strip() or None
    return None


def html_to_text(value: str) -> str:
    """Plain text from a small HTML fragment (chat messages): block ends become newlines, tags go, entities decode."""
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|li|h[1-6])\s*>", "\n", value)
    text = re.sub(r"<[^>]*>", "", text)
    text = html.unescape(text)
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- timestamps -----------------------------------------------------------------------------------------------------


def parse_iso(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as an aware UTC datetime (naive means UTC); None when absent or malformed."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # nanoseconds: Python keeps microseconds
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def from_epoch(value: Any, *, milliseconds: bool = False) -> datetime | None:
    """An epoch number (seconds, or milliseconds) as an aware UTC datetime; None when absent or out of range."""
    number = as_number(value)
    if number is None:
        return None
    try:
        return datetime.fromtimestamp(number / 1000 if milliseconds else number, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


# --- customers ------------------------------------------------------------------------------------------------------


def normalise_email(value: Any) -> str | None:
    """An email address stripped and lower-cased, or None when it does not look like one."""
    text = as_text(value)
    if text is None or "@" not in text or any(ch.isspace() for ch in text):
        return None
    return text.lower()


def customer_ref(
    keys: Iterable[tuple[str, Any]], *, email: Any = None, name: Any = None, phone: Any = None
) -> CustomerRef | None:
    """A CustomerRef from candidate keys (blank values dropped, ids as strings, emails normalised); None if no key."""
    clean_email = normalise_email(email)
    clean_phone = as_text(phone)
    candidates = list(keys)
    if clean_email is not None:
        candidates.append(("email", clean_email))
    if clean_phone is not None:
        candidates.append(("phone", clean_phone))
    seen: list[tuple[str, str]] = []
    for kind, raw in candidates:
        value = normalise_email(raw) if kind == "email" else as_text(raw)
        if value is not None and (kind, value) not in seen:
            seen.append((kind, value))
    if not seen:
        return None
    return CustomerRef(keys=tuple(seen), email=clean_email, name=as_text(name), phone=clean_phone)


# --- scores ---------------------------------------------------------------------------------------------------------


def as_number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string; None otherwise (booleans are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def score_in_range(value: Any, low: int, high: int) -> int | None:
    """A whole score within [low, high], or None when it is not a whole number in range."""
    number = as_number(value)
    if number is None or not number.is_integer() or not low <= number <= high:
        return None
    return int(number)


def rescale(value: Any, source: tuple[int, int], target: tuple[int, int]) -> int | None:
    """A score moved linearly from one scale onto another, rounded half up; None when outside the source scale."""
    number = as_number(value)
    low, high = source
    new_low, new_high = target
    if number is None or high <= low or not low <= number <= high:
        return None
    return math.floor(new_low + (number - low) * (new_high - new_low) / (high - low) + 0.5)
