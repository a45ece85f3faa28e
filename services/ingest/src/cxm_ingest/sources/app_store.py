"""App Store reviews, which Apple never pushes: this adapter only validates a review connection's config.

Config: `app_id` (the app's Apple id, digits), `issuer_id` (a UUID), `key_id` and `private_key` (secret: the PEM
text of the App Store Connect API key), and optionally `poll_interval_s` (default 3600, 60 to 86400) and
`api_base_url` (default: Apple's host). The poller (`cxm_ingest.reviews.poller`) fetches the reviews; the webhook
route refuses everything.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from cxm_ingest.reviews import PolledAdapter, check_fields, optional_urls, poll_interval
from cxm_ingest.reviews.app_store import SOURCE, private_key
from cxm_ingest.sources.base import ConfigError
from cxm_ingest.sources.common import as_text

REQUIRED = ("app_id", "issuer_id", "key_id", "private_key")
OPTIONAL = ("poll_interval_s", "api_base_url")
_KEY_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


class AppStoreAdapter(PolledAdapter):
    """App Store review connections (polled)."""

    name = SOURCE
    secret_fields: tuple[str, ...] = ("private_key",)

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the ids, that the key can sign ES256, the URL and the interval."""
        checked = check_fields(config, REQUIRED, OPTIONAL)
        app_id = as_text(checked["app_id"])
        if app_id is None or not app_id.isdigit():
            raise ConfigError("config field 'app_id' must be the app's Apple id (digits)")
        issuer = as_text(checked["issuer_id"])
        try:
            issuer = str(uuid.UUID(issuer or ""))
        except ValueError as exc:
            raise ConfigError("config field 'issuer_id' must be the issuer id (a UUID)") from exc
        key_id = as_text(checked["key_id"])
        if key_id is None or not _KEY_ID.match(key_id):
            raise ConfigError("config field 'key_id' must be the API key's id (letters and digits)")
        return {
            "app_id": app_id,
            "issuer_id": issuer,
            "key_id": key_id,
            "private_key": private_key(checked["private_key"]),
            "poll_interval_s": poll_interval(checked.get("poll_interval_s")),
            **optional_urls(checked, ("api_base_url",)),
        }


ADAPTER = AppStoreAdapter()
