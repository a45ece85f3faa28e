"""Which bodies a source's webhook takes: its own media types, with parameters and structured suffixes."""

from __future__ import annotations

import pytest

from cxm_ingest.sources.base import JSON_MEDIA_TYPES, accepts_media_type
from cxm_ingest.sources.registry import ADAPTERS


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON",
     "application/vnd.surveymonkey.response.v1+json", None, ""],
)  # fmt: skip
def test_json_sources_take_json_and_any_json_suffix(content_type: str | None) -> None:
    assert accepts_media_type(JSON_MEDIA_TYPES, content_type)


@pytest.mark.parametrize("content_type", ["text/plain", "text/xml", "application/x-www-form-urlencoded", "json"])
def test_json_sources_refuse_other_media_types(content_type: str) -> None:
    assert not accepts_media_type(JSON_MEDIA_TYPES, content_type)


def test_each_source_takes_what_it_sends_and_nothing_else() -> None:
    sends = {"salesforce": "text/xml; charset=utf-8", "twilio": "application/x-www-form-urlencoded"}
    for name, adapter in ADAPTERS.items():
        if not adapter.media_types:
            continue  # polled sources accept nothing on the webhook route
        assert accepts_media_type(adapter.media_types, sends.get(name, "application/json")), name
        assert not accepts_media_type(adapter.media_types, "text/plain"), name
