"""App Store Connect API `customerReviews`: the API key's JWT, the list URL, and JSON:API pages into feedback.

Auth: an ES256 JWT signed with the team's App Store Connect API key (a `.p8` PEM, P-256), header `kid` (the key
id), claims `iss` (the issuer id), `aud` (`appstoreconnect-v1`), `iat` and `exp` (at most 20 minutes later), sent
as `Authorization: Bearer …`. Tokens are short-lived and cheap, so one is made per request.

Each review is one feedback record: text = `title` + `body`, `rating` as CSAT (raw rating kept), `territory` in
metadata, `occurred_at` = `createdDate`, external id = the review `id`. Apple exposes neither edits (no
last-modified) nor the app version on a review, so the first version seen is the one kept and there is no
`app_version`. The customer is keyed by `reviewerNickname` (`app_store:reviewer`) when present. Pages are read
newest first (`sort=-createdDate`); `links.next` is followed on the configured API host only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.reviews import CHANNEL, ReviewPage, review_text
from cxm_ingest.sources.base import BadPayload, ConfigError
from cxm_ingest.sources.common import as_dict, as_text, customer_ref, parse_iso, score_in_range

SOURCE = "app_store"
DEFAULT_API_BASE_URL = "https://api.appstoreconnect.apple.com"
AUDIENCE = "appstoreconnect-v1"
# Apple refuses tokens that live longer than 20 minutes.
TOKEN_LIFETIME = timedelta(minutes=15)
PAGE_SIZE = 200
REVIEWER_KIND = f"{SOURCE}:reviewer"


def private_key(value: Any) -> str:
    """An App Store Connect API key (PEM, P-256) as text; ConfigError when it cannot sign ES256."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("config field 'private_key' must be the API key's PEM text (the .p8 file)")
    text = value.strip()
    try:
        loaded = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError("config field 'private_key' is not a readable PEM private key") from exc
    if not isinstance(loaded, EllipticCurvePrivateKey) or not isinstance(loaded.curve, SECP256R1):
        raise ConfigError("config field 'private_key' must be an EC P-256 key (App Store Connect API key)")
    return text + "\n"


def api_token(config: dict[str, Any], *, now: datetime) -> str:
    """A signed API token for the connection's key."""
    claims = {
        "iss": str(config["issuer_id"]),
        "aud": AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int((now + TOKEN_LIFETIME).timestamp()),
    }
    return jwt.encode(claims, str(config["private_key"]), algorithm="ES256", headers={"kid": str(config["key_id"])})


def reviews_url(config: dict[str, Any], next_link: str | None = None) -> str:
    """The first page of the app's reviews (newest first), or the page a `links.next` names, on the API host."""
    base = str(config.get("api_base_url") or DEFAULT_API_BASE_URL)
    if next_link:
        target = urlsplit(next_link)
        origin = urlsplit(base)
        # The token goes only to the configured host, whatever host the page names.
        return f"{origin.scheme}://{origin.netloc}{target.path}" + (f"?{target.query}" if target.query else "")
    query = urlencode({"sort": "-createdDate", "limit": PAGE_SIZE})
    return f"{base}/v1/apps/{quote(str(config['app_id']), safe='')}/customerReviews?{query}"


def parse_page(page: Any, *, app: str) -> ReviewPage:
    """One `customerReviews` document as feedback records and the next page's link."""
    if not isinstance(page, dict):
        raise BadPayload("a reviews page must be a JSON object")
    items = page.get("data", [])
    if not isinstance(items, list):
        raise BadPayload("'data' must be an array")
    records = [record for record in (_review(item, app) for item in items) if record is not None]
    next_link = as_text(as_dict(page.get("links")).get("next"))
    return ReviewPage(records=records, next_page=next_link, skipped=len(items) - len(records))


def _review(item: Any, app: str) -> FeedbackRecord | None:
    item = as_dict(item)
    review_id = as_text(item.get("id"))
    attributes = as_dict(item.get("attributes"))
    created = parse_iso(attributes.get("createdDate"))
    if review_id is None or created is None or item.get("type", "customerReviews") != "customerReviews":
        return None
    rating = attributes.get("rating")
    metadata: dict[str, Any] = {
        "review_id": review_id,
        "app": app,
        "rating": rating if isinstance(rating, int) and not isinstance(rating, bool) else as_text(rating),
        "territory": as_text(attributes.get("territory")),
    }
    title, body = attributes.get("title"), attributes.get("body")
    nickname = as_text(attributes.get("reviewerNickname"))
    return FeedbackRecord(
        channel=CHANNEL,
        source=SOURCE,
        external_id=review_id,
        customer=customer_ref([(REVIEWER_KIND, nickname)], name=nickname),
        text=review_text(title if isinstance(title, str) else None, body if isinstance(body, str) else None),
        scores=Scores(csat=score_in_range(rating, 1, 5)),
        occurred_at=created,
        metadata={key: value for key, value in metadata.items() if value is not None},
    )
