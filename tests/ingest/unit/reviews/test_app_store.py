"""App Store Connect: review pages become review feedback, an API key signs ES256 tokens, configs are checked."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cxm_ingest.domain.records import CustomerRef, Scores
from cxm_ingest.reviews import app_store
from cxm_ingest.sources.app_store import ADAPTER
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest

FIXTURES = Path(__file__).parents[2] / "fixtures" / "reviews"
PAGE = json.loads((FIXTURES / "app_store_review.json").read_text())
REVIEW_ID = "00000042-a1b2-0003-c4d5-e6f700000000"
APP = "1500000001"
ISSUER = "57246542-96fe-1a63-e053-0824d011072a"
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> str:
    return key.private_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def config(**changes: Any) -> dict[str, Any]:
    base = {"app_id": APP, "issuer_id": ISSUER, "key_id": "2X9R4HXF34", "private_key": pem(EC_KEY)}
    return ADAPTER.prepare_config({**base, **changes})


def page_with(**changes: Any) -> dict[str, Any]:
    page = copy.deepcopy(PAGE)
    page["data"][0]["attributes"].update(changes)
    return page


def test_the_documented_review_becomes_review_feedback() -> None:
    page = app_store.parse_page(PAGE, app=APP)

    assert page.next_page == PAGE["links"]["next"] and page.skipped == 0
    [record] = page.records
    assert record.channel == "review" and record.source == "app_store"
    assert record.external_id == REVIEW_ID
    assert record.text == (
        "Export keeps failing\nSince the last update exporting a report just spins forever. Support took days to reply."
    )
    assert record.scores == Scores(csat=2)
    assert record.occurred_at == datetime(2025, 3, 14, 9, 41, 9, tzinfo=UTC)
    assert record.customer == CustomerRef(keys=(("app_store:reviewer", "dreyes_ops"),), name="dreyes_ops")
    assert record.metadata == {"review_id": REVIEW_ID, "app": APP, "rating": 2, "territory": "USA"}


def test_a_review_without_a_title_or_a_nickname_is_anonymous_body_only() -> None:
    [record] = app_store.parse_page(page_with(title=None, reviewerNickname=""), app=APP).records

    assert record.customer is None
    assert record.text == "Since the last update exporting a report just spins forever. Support took days to reply."


@pytest.mark.parametrize("rating", [0, 6, "five", None])
def test_a_rating_off_the_scale_is_no_csat_but_kept_raw(rating: Any) -> None:
    [record] = app_store.parse_page(page_with(rating=rating), app=APP).records

    assert record.scores.csat is None
    assert record.metadata.get("rating") == rating


def test_items_without_an_id_or_a_date_or_of_another_type_are_skipped() -> None:
    good = PAGE["data"][0]
    items = [
        {**good, "id": None},
        good,
        {**good, "attributes": {**good["attributes"], "createdDate": "yesterday"}},
        {**good, "type": "customerReviewResponses"},
        7,
    ]

    page = app_store.parse_page({"data": items, "links": {}}, app=APP)

    assert [r.external_id for r in page.records] == [REVIEW_ID]
    assert page.skipped == 4 and page.next_page is None


@pytest.mark.parametrize("body", [[], None, {"data": {}}])
def test_an_unreadable_page_is_a_bad_payload(body: Any) -> None:
    with pytest.raises(BadPayload):
        app_store.parse_page(body, app=APP)


def test_the_api_token_is_an_es256_jwt_of_the_key() -> None:
    token = app_store.api_token(config(), now=NOW)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token,
        EC_KEY.public_key(),
        algorithms=["ES256"],
        audience="appstoreconnect-v1",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert header == {"alg": "ES256", "kid": "2X9R4HXF34", "typ": "JWT"}
    assert claims["iss"] == ISSUER and claims["aud"] == "appstoreconnect-v1"
    assert claims["iat"] == int(NOW.timestamp()) and 0 < claims["exp"] - claims["iat"] <= 20 * 60


def test_the_list_url_sorts_newest_first_and_next_links_stay_on_the_api_host() -> None:
    first = urlsplit(app_store.reviews_url(config()))
    local = config(api_base_url="http://127.0.0.1:9")
    following = app_store.reviews_url(local, PAGE["links"]["next"])

    assert (first.scheme, first.netloc, first.path) == (
        "https", "api.appstoreconnect.apple.com", f"/v1/apps/{APP}/customerReviews"
    )  # fmt: skip
    assert parse_qs(first.query) == {"sort": ["-createdDate"], "limit": ["200"]}
    assert following == f"http://127.0.0.1:9/v1/apps/{APP}/customerReviews?cursor=ExAmPlE&limit=1&sort=-createdDate"
    assert app_store.reviews_url(config(), "https://elsewhere.example.com/v1/x?cursor=1").startswith(
        "https://api.appstoreconnect.apple.com/v1/x?"
    )


def test_a_config_is_checked_and_the_interval_defaults_to_an_hour() -> None:
    prepared = config(app_id=int(APP), issuer_id=ISSUER.upper())

    assert prepared["app_id"] == APP and prepared["issuer_id"] == ISSUER and prepared["poll_interval_s"] == 3600
    assert ADAPTER.prepare_config(prepared) == prepared  # rotation re-checks a prepared config unchanged
    assert ADAPTER.secret_fields == ("private_key",) and ADAPTER.uses_path_token is False


@pytest.mark.parametrize(
    "changes",
    [
        {"app_id": "my-app"},
        {"issuer_id": "not-a-uuid"},
        {"key_id": "has spaces"},
        {"key_id": None},
        {"private_key": "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----"},
        {"private_key": pem(ec.generate_private_key(ec.SECP384R1()))},
        {"private_key": pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))},
        {"poll_interval_s": 30},
        {"api_base_url": "http://api.example.com"},
        {"token_url": "https://example.com/token"},
    ],
)
def test_bad_configs_are_config_errors(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        config(**changes)


def test_the_webhook_route_refuses_everything() -> None:
    request = WebhookRequest("POST", "https://cxm.example.com/v1/webhooks/app_store/x", {}, b"{}", NOW)

    with pytest.raises(Refused, match="polled, not pushed"):
        ADAPTER.verify(request, config(), now=NOW)
    with pytest.raises(BadPayload):
        ADAPTER.parse(request)
