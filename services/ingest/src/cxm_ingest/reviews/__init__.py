"""App-store reviews, which no store pushes: pure parsers and token makers per store, and the poller that runs them.

Each store module turns one page of its API's JSON into `FeedbackRecord`s (channel `review`, the star rating as
CSAT) and the next page's token or link. The source adapters (`sources/google_play.py`, `sources/app_store.py`)
only validate a connection's config with the helpers below; `poller.py` does the I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from cxm_ingest.domain.records import FeedbackRecord
from cxm_ingest.sources.base import BadPayload, ConfigError, Delivery, Refused, Reply, WebhookRequest

CHANNEL = "review"
DEFAULT_POLL_INTERVAL_S = 3600
MIN_POLL_INTERVAL_S = 60
# Google Play lists only about a week of reviews, so a connection must poll at least daily.
MAX_POLL_INTERVAL_S = 24 * 3600
LOOPBACK_HOSTS = ("localhost",)


@dataclass(frozen=True, slots=True)
class ReviewPage:
    """One page of a store's reviews: records (each with `occurred_at` set), the next page, and what was skipped."""

    records: list[FeedbackRecord] = field(default_factory=list)
    next_page: str | None = None  # Google Play's page token, or App Store's `links.next` URL
    skipped: int = 0  # items without an id or a timestamp


def check_fields(config: Any, required: tuple[str, ...], optional: tuple[str, ...]) -> Mapping[str, Any]:
    """A config object with no unknown fields and every required one present; ConfigError otherwise."""
    if not isinstance(config, Mapping):
        raise ConfigError("config must be a JSON object")
    unknown = sorted(str(key) for key in config if key not in required and key not in optional)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}; expected {', '.join(required + optional)}")
    missing = [key for key in required if config.get(key) in (None, "")]
    if missing:
        raise ConfigError(f"config field(s) {', '.join(missing)} are required")
    return config


def optional_urls(config: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """The service URLs among `names` that the config sets, checked."""
    return {name: service_url(config[name], name) for name in names if config.get(name) is not None}


def poll_interval(value: Any) -> int:
    """A poll interval in whole seconds within the allowed range (default when absent); ConfigError otherwise."""
    if value is None:
        return DEFAULT_POLL_INTERVAL_S
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError("config field 'poll_interval_s' must be a whole number of seconds")
    if not MIN_POLL_INTERVAL_S <= value <= MAX_POLL_INTERVAL_S:
        raise ConfigError(f"config field 'poll_interval_s' must be {MIN_POLL_INTERVAL_S}–{MAX_POLL_INTERVAL_S}")
    return value


def service_url(value: Any, name: str) -> str:
    """An API or token URL: https, or plain http to a loopback host only; without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"config field {name!r} must be a non-empty URL")
    text = value.strip().rstrip("/")
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise ConfigError(f"config field {name!r} is not a valid URL") from exc
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise ConfigError(f"config field {name!r} must be an http(s) URL without query or fragment")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigError(f"config field {name!r} must use https (plain http only to a loopback address)")
    return text


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def review_text(*parts: str | None) -> str | None:
    """Title and body as one text, one per line; None when both are blank."""
    kept = [part.strip() for part in parts if part and part.strip()]
    return "\n".join(kept) or None


class PolledAdapter:
    """What a polled source answers on the webhook route: nothing is ever accepted there."""

    name: str
    secret_fields: tuple[str, ...]
    uses_path_token = False
    media_types: tuple[str, ...] = ()

    def verify(self, request: WebhookRequest, config: dict[str, Any], *, now: datetime) -> None:
        """Refuse every request: reviews are fetched by the poller."""
        raise Refused("this source is polled, not pushed")

    def parse(self, request: WebhookRequest) -> Delivery:
        """Never reached after `verify`; refuse all the same."""
        raise BadPayload("this source is polled, not pushed")

    def reply(self, delivery: Delivery) -> Reply:
        """An empty 200 (never used: nothing is accepted)."""
        return Reply(status=200)

    def refusal(self, error: Refused | BadPayload) -> Reply:
        """The status with the reason as plain text."""
        return Reply(status=error.status, body=error.reason.encode(), content_type="text/plain; charset=utf-8")

    def probe(self, request: WebhookRequest) -> Reply | None:
        """No unsigned checks."""
        return None
