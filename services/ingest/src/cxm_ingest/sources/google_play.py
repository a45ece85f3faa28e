"""Google Play reviews, which Google never pushes: this adapter only validates a review connection's config.

Config: `package_name`, `service_account_json` (secret: the key file of a service account allowed to read
reviews), and optionally `poll_interval_s` (default 3600, 60 to 86400), `api_base_url` and `token_url` (defaults:
Google's hosts). The poller (`cxm_ingest.reviews.poller`) fetches the reviews; the webhook route refuses everything.
"""

from __future__ import annotations

import re
from typing import Any

from cxm_ingest.reviews import PolledAdapter, check_fields, optional_urls, poll_interval
from cxm_ingest.reviews.google_play import SOURCE, normalise_service_account
from cxm_ingest.sources.base import ConfigError

REQUIRED = ("package_name", "service_account_json")
OPTIONAL = ("poll_interval_s", "api_base_url", "token_url")
_PACKAGE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")


class GooglePlayAdapter(PolledAdapter):
    """Google Play review connections (polled)."""

    name = SOURCE
    secret_fields: tuple[str, ...] = ("service_account_json",)

    def prepare_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Check the package name, that the service account can sign, the URLs and the interval."""
        checked = check_fields(config, REQUIRED, OPTIONAL)
        package = checked["package_name"]
        if not isinstance(package, str) or not _PACKAGE.match(package.strip()):
            raise ConfigError("config field 'package_name' must be an Android package name, e.g. com.example.app")
        return {
            "package_name": package.strip(),
            "service_account_json": normalise_service_account(checked["service_account_json"]),
            "poll_interval_s": poll_interval(checked.get("poll_interval_s")),
            **optional_urls(checked, ("api_base_url", "token_url")),
        }


ADAPTER = GooglePlayAdapter()
