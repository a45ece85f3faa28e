"""Google Play: review pages become review feedback, a service account signs the token request, configs are checked."""

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cxm_ingest.domain.records import CustomerRef, Scores
from cxm_ingest.reviews import google_play
from cxm_ingest.sources.base import BadPayload, ConfigError, Refused, WebhookRequest
from cxm_ingest.sources.google_play import ADAPTER

FIXTURES = Path(__file__).parents[2] / "fixtures" / "reviews"
PAGE = json.loads((FIXTURES / "google_play_review.json").read_text())
REVIEW_ID = "gp:AOqpTOExAmPlE_ReViEw_Id_0001"
APP = "com.example.app"
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_PEM = RSA_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
ACCOUNT = {
    "type": "service_account",
    "project_id": "example",
    "private_key_id": "0123456789abcdef",
    "private_key": RSA_PEM,
    "client_email": "reviews@example.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def page_with(**changes: Any) -> dict[str, Any]:
    page = copy.deepcopy(PAGE)
    page["reviews"][0]["comments"][0]["userComment"].update(changes)
    return page


def config(**changes: Any) -> dict[str, Any]:
    return ADAPTER.prepare_config({"package_name": APP, "service_account_json": json.dumps(ACCOUNT), **changes})


def test_the_documented_review_becomes_review_feedback() -> None:
    page = google_play.parse_page(PAGE, app=APP)

    assert page.next_page == "ExAmPlEnExTpAgEtOkEn" and page.skipped == 0
    [record] = page.records
    assert record.channel == "review" and record.source == "google_play"
    assert record.external_id == f"{REVIEW_ID}:1741944120"
    assert record.text == "App crashes when exporting reports on my tablet. Support was slow to answer."
    assert record.scores == Scores(csat=2)
    assert record.occurred_at == datetime.fromtimestamp(1741944120, tz=UTC) + timedelta(microseconds=271000)
    assert record.customer == CustomerRef(keys=(("google_play:author", "Dana R."),), name="Dana R.")
    assert record.metadata == {
        "review_id": REVIEW_ID,
        "app": APP,
        "rating": 2,
        "language": "en",
        "device": "gts8wifi",
        "device_name": "gts8wifi (Galaxy Tab S8)",
        "manufacturer": "Samsung",
        "device_class": "tablet",
        "android_os_version": "34",
        "app_version": "4.2.13",
        "app_version_code": "40213",
        "thumbs_up": 3,
        "thumbs_down": 0,
        "developer_replied_at": datetime.fromtimestamp(1741951300, tz=UTC).isoformat(),
    }


def test_a_title_and_body_separated_by_a_tab_become_two_lines() -> None:
    [record] = google_play.parse_page(page_with(text="\tGreat app\tBut it drains the battery. "), app=APP).records

    assert record.text == "Great app\nBut it drains the battery."


def test_an_edited_review_is_a_new_record_of_the_same_review() -> None:
    [first] = google_play.parse_page(PAGE, app=APP).records
    edited_at = {"seconds": "1742030000", "nanos": 0}
    [edited] = google_play.parse_page(
        page_with(text="Fixed in 4.2.14, thanks!", lastModified=edited_at), app=APP
    ).records

    assert edited.external_id == f"{REVIEW_ID}:1742030000" != first.external_id
    assert edited.metadata["review_id"] == first.metadata["review_id"] == REVIEW_ID
    assert edited.occurred_at == datetime.fromtimestamp(1742030000, tz=UTC)


def test_the_original_text_is_kept_beside_a_translation() -> None:
    [record] = google_play.parse_page(page_with(text="Translated", originalText="\tOriginal words"), app=APP).records

    assert record.text == "Original words"


@pytest.mark.parametrize("author", [None, "", "A Google user"])
def test_an_anonymous_review_has_no_customer(author: str | None) -> None:
    page = copy.deepcopy(PAGE)
    page["reviews"][0]["authorName"] = author

    [record] = google_play.parse_page(page, app=APP).records

    assert record.customer is None and record.text


@pytest.mark.parametrize("rating", [0, 6, "two", None, True])
def test_a_rating_off_the_scale_is_no_csat(rating: Any) -> None:
    [record] = google_play.parse_page(page_with(starRating=rating), app=APP).records

    assert record.scores.csat is None


def test_reviews_without_an_id_a_user_comment_or_a_timestamp_are_skipped() -> None:
    good = PAGE["reviews"][0]
    no_id = {**good, "reviewId": None}
    no_comment = {**good, "comments": [good["comments"][1]]}
    no_time = page_with(lastModified={"nanos": 5})["reviews"][0]

    page = google_play.parse_page({"reviews": [no_id, good, no_comment, no_time, "junk"]}, app=APP)

    assert [r.metadata["review_id"] for r in page.records] == [REVIEW_ID]
    assert page.skipped == 4 and page.next_page is None


def test_an_empty_answer_is_an_empty_last_page() -> None:
    page = google_play.parse_page({}, app=APP)

    assert page.records == [] and page.next_page is None


@pytest.mark.parametrize("body", [[], "reviews", None, {"reviews": {}}])
def test_an_unreadable_page_is_a_bad_payload(body: Any) -> None:
    with pytest.raises(BadPayload):
        google_play.parse_page(body, app=APP)


def test_the_assertion_is_an_rs256_jwt_of_the_service_account() -> None:
    account = google_play.service_account(ACCOUNT)
    token = google_play.assertion(account, audience="https://oauth2.googleapis.com/token", now=NOW)

    header = jwt.get_unverified_header(token)
    claims = jwt.decode(
        token,
        RSA_KEY.public_key(),
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert header["alg"] == "RS256" and header["kid"] == "0123456789abcdef"
    assert claims == {
        "iss": "reviews@example.iam.gserviceaccount.com",
        "scope": "https://www.googleapis.com/auth/androidpublisher",
        "aud": "https://oauth2.googleapis.com/token",
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 3600,
    }


def test_the_token_request_posts_a_jwt_bearer_grant_to_the_configured_url() -> None:
    url, form = google_play.token_request(config(token_url="http://127.0.0.1:9/token"), now=NOW)

    assert url == "http://127.0.0.1:9/token"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], RSA_KEY.public_key(), algorithms=["RS256"], audience=url,
                        options={"verify_exp": False, "verify_iat": False})  # fmt: skip
    assert claims["aud"] == url
    assert google_play.token_url(config()) == "https://oauth2.googleapis.com/token"


def test_the_list_url_names_the_package_and_the_page_token() -> None:
    first = urlsplit(google_play.reviews_url(config()))
    later = urlsplit(google_play.reviews_url(config(api_base_url="http://127.0.0.1:9/"), "tok/en+1"))

    assert (first.scheme, first.netloc) == ("https", "androidpublisher.googleapis.com")
    assert first.path == f"/androidpublisher/v3/applications/{APP}/reviews"
    assert parse_qs(first.query) == {"maxResults": ["100"]}
    assert later.netloc == "127.0.0.1:9" and parse_qs(later.query) == {"maxResults": ["100"], "token": ["tok/en+1"]}


def test_a_config_is_checked_and_the_interval_defaults_to_an_hour() -> None:
    as_object = ADAPTER.prepare_config({"package_name": f" {APP} ", "service_account_json": ACCOUNT})

    assert as_object["package_name"] == APP and as_object["poll_interval_s"] == 3600
    assert json.loads(as_object["service_account_json"]) == ACCOUNT
    assert config(poll_interval_s=60, api_base_url="https://proxy.example.com/")["api_base_url"] == (
        "https://proxy.example.com"
    )
    assert ADAPTER.prepare_config(config())["service_account_json"] == json.dumps(ACCOUNT)  # rotation re-checks it
    assert ADAPTER.secret_fields == ("service_account_json",) and ADAPTER.uses_path_token is False


EC_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode()
)


@pytest.mark.parametrize(
    "changes",
    [
        {"package_name": "not a package"},
        {"package_name": None},
        {"service_account_json": "{not json"},
        {
            "service_account_json": {
                **ACCOUNT,
                "private_key": "-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----",
            }
        },
        {"service_account_json": {**ACCOUNT, "private_key": EC_PEM}},
        {"service_account_json": {**ACCOUNT, "type": "authorized_user"}},
        {"service_account_json": {k: v for k, v in ACCOUNT.items() if k != "client_email"}},
        {"service_account_json": {**ACCOUNT, "token_uri": "http://evil.example.com/token"}},
        {"poll_interval_s": 59},
        {"poll_interval_s": 86401},
        {"poll_interval_s": 1.5},
        {"api_base_url": "http://internal.example.com"},
        {"api_base_url": "ftp://127.0.0.1"},
        {"token_url": "https://example.com/token?x=1"},
        {"webhook_secret": "x"},
    ],
)
def test_bad_configs_are_config_errors(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ADAPTER.prepare_config({"package_name": APP, "service_account_json": ACCOUNT, **changes})


def test_the_webhook_route_refuses_everything() -> None:
    request = WebhookRequest("POST", "https://cxm.example.com/v1/webhooks/google_play/x", {}, b"{}", NOW)

    with pytest.raises(Refused, match="polled, not pushed"):
        ADAPTER.verify(request, config(), now=NOW)
    with pytest.raises(BadPayload):
        ADAPTER.parse(request)
