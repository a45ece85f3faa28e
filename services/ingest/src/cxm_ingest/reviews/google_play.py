"""Google Play Developer API `reviews.list`: a service account's OAuth token, the list URL, and pages into feedback.

Auth (OAuth 2.0 JWT bearer grant, RFC 7523): an RS256 JWT signed with the service account's private key, with
claims `iss` (the account's `client_email`), `scope` (`androidpublisher`), `aud` (the token URL), `iat` and `exp`
(one hour later) and header `kid` (the account's `private_key_id`), is exchanged at the token URL for an access
token, sent as `Authorization: Bearer …`.

Each review is one feedback record: text from `userComment` (its title and body are separated by a tab and it
often starts with one), `starRating` as CSAT (raw rating kept), `occurred_at` = `lastModified`. The external id is
`reviewId:lastModified.seconds`: an edited review is a new feedback record, and `metadata.review_id` ties the
versions together. The customer is keyed by `authorName` (`google_play:author`), absent for anonymous authors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from cxm_ingest.domain.records import FeedbackRecord, Scores
from cxm_ingest.reviews import CHANNEL, ReviewPage, review_text, service_url
from cxm_ingest.sources.base import BadPayload, ConfigError
from cxm_ingest.sources.common import as_dict, as_list, as_number, as_text, customer_ref, score_in_range

SOURCE = "google_play"
DEFAULT_API_BASE_URL = "https://androidpublisher.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = timedelta(hours=1)
PAGE_SIZE = 100
AUTHOR_KIND = f"{SOURCE}:author"
# Google names reviewers without a public profile this way; keying a customer on it would merge strangers.
ANONYMOUS_AUTHORS = frozenset({"A Google user"})


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The fields of a Google service-account key file that the token exchange needs."""

    client_email: str
    private_key: str
    private_key_id: str | None = None
    token_uri: str | None = None


def service_account(value: Any) -> ServiceAccount:
    """Read a service-account key file (JSON text or object); ConfigError when it cannot sign."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigError("config field 'service_account_json' is not valid JSON") from exc
    if not isinstance(value, dict):
        raise ConfigError("config field 'service_account_json' must be a service-account key file (a JSON object)")
    if value.get("type", "service_account") != "service_account":
        raise ConfigError("config field 'service_account_json' must be of type 'service_account'")
    email = as_text(value.get("client_email"))
    key = value.get("private_key")
    if email is None or not isinstance(key, str):
        raise ConfigError("config field 'service_account_json' needs 'client_email' and 'private_key'")
    try:
        loaded = load_pem_private_key(key.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError("the service account's 'private_key' is not a readable PEM private key") from exc
    if not isinstance(loaded, RSAPrivateKey):
        raise ConfigError("the service account's 'private_key' must be an RSA key")
    token_uri = value.get("token_uri")
    return ServiceAccount(
        client_email=email,
        private_key=key,
        private_key_id=as_text(value.get("private_key_id")),
        token_uri=service_url(token_uri, "service_account_json.token_uri") if token_uri is not None else None,
    )


def normalise_service_account(value: Any) -> str:
    """The key file as the JSON text to keep sealed (as given when it was text), after checking it."""
    service_account(value)
    return value.strip() if isinstance(value, str) else json.dumps(value)


def token_url(config: dict[str, Any]) -> str:
    """Where to exchange the assertion: the connection's `token_url`, the key file's `token_uri`, or Google's."""
    return str(
        config.get("token_url") or service_account(config["service_account_json"]).token_uri or DEFAULT_TOKEN_URL
    )


def assertion(account: ServiceAccount, *, audience: str, now: datetime) -> str:
    """The signed JWT exchanged for an access token."""
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int((now + ASSERTION_LIFETIME).timestamp()),
    }
    headers = {"kid": account.private_key_id} if account.private_key_id else None
    return jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)


def token_request(config: dict[str, Any], *, now: datetime) -> tuple[str, dict[str, str]]:
    """The token URL and the form to post to it."""
    url = token_url(config)
    signed = assertion(service_account(config["service_account_json"]), audience=url, now=now)
    return url, {"grant_type": GRANT_TYPE, "assertion": signed}


def reviews_url(config: dict[str, Any], page_token: str | None = None) -> str:
    """The `reviews.list` URL of the connection's app, at a page token when given."""
    base = str(config.get("api_base_url") or DEFAULT_API_BASE_URL)
    package = quote(str(config["package_name"]), safe="")
    query: dict[str, Any] = {"maxResults": PAGE_SIZE}
    if page_token:
        query["token"] = page_token
    return f"{base}/androidpublisher/v3/applications/{package}/reviews?{urlencode(query)}"


def parse_page(page: Any, *, app: str) -> ReviewPage:
    """One `reviews.list` response as feedback records and the next page token."""
    if not isinstance(page, dict):
        raise BadPayload("a reviews page must be a JSON object")
    items = page.get("reviews", [])
    if not isinstance(items, list):
        raise BadPayload("'reviews' must be an array")
    records = [record for record in (_review(item, app) for item in items) if record is not None]
    next_token = as_text(as_dict(page.get("tokenPagination")).get("nextPageToken"))
    return ReviewPage(records=records, next_page=next_token, skipped=len(items) - len(records))


def _review(item: Any, app: str) -> FeedbackRecord | None:
    item = as_dict(item)
    review_id = as_text(item.get("reviewId"))
    comments = [as_dict(comment) for comment in as_list(item.get("comments"))]
    user = next((as_dict(c["userComment"]) for c in comments if isinstance(c.get("userComment"), dict)), None)
    if review_id is None or user is None:
        return None
    modified = _time(user.get("lastModified"))
    if modified is None:
        return None
    rating = user.get("starRating")
    device = as_dict(user.get("deviceMetadata"))
    developer = next(
        (as_dict(c["developerComment"]) for c in comments if isinstance(c.get("developerComment"), dict)), None
    )
    replied_at = _time(developer.get("lastModified")) if developer is not None else None
    metadata: dict[str, Any] = {
        "review_id": review_id,
        "app": app,
        "rating": rating if isinstance(rating, int) and not isinstance(rating, bool) else as_text(rating),
        "language": as_text(user.get("reviewerLanguage")),
        "device": as_text(user.get("device")),
        "device_name": as_text(device.get("productName")),
        "manufacturer": as_text(device.get("manufacturer")),
        "device_class": as_text(device.get("deviceClass")),
        "android_os_version": as_text(user.get("androidOsVersion")),
        "app_version": as_text(user.get("appVersionName")),
        "app_version_code": as_text(user.get("appVersionCode")),
        "thumbs_up": _count(user.get("thumbsUpCount")),
        "thumbs_down": _count(user.get("thumbsDownCount")),
        "developer_replied_at": replied_at.isoformat() if replied_at else None,
    }
    # Without a translation requested, `text` is the reviewer's own; `originalText` appears only beside a translation.
    raw_text = user.get("originalText") if isinstance(user.get("originalText"), str) else user.get("text")
    text = review_text(*raw_text.split("\t")) if isinstance(raw_text, str) else None
    author = as_text(item.get("authorName"))
    if author in ANONYMOUS_AUTHORS:
        author = None
    return FeedbackRecord(
        channel=CHANNEL,
        source=SOURCE,
        external_id=f"{review_id}:{int(modified.timestamp())}",
        customer=customer_ref([(AUTHOR_KIND, author)], name=author),
        text=text,
        scores=Scores(csat=score_in_range(rating, 1, 5)),
        occurred_at=modified,
        metadata={key: value for key, value in metadata.items() if value is not None},
    )


def _time(value: Any) -> datetime | None:
    """A protobuf `Timestamp` (`{seconds, nanos}`, seconds as a string) as an aware UTC datetime."""
    stamp = as_dict(value)
    seconds = as_number(stamp.get("seconds"))
    nanos = as_number(stamp.get("nanos")) or 0
    if seconds is None or not seconds.is_integer():
        return None
    try:
        return datetime.fromtimestamp(int(seconds), tz=UTC) + timedelta(microseconds=int(nanos) // 1000)
    except (OverflowError, OSError, ValueError):
        return None


def _count(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number.is_integer() and number >= 0 else None
