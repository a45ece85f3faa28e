"""Taxonomies: the default one is sensible, tenant ones are validated with clear messages."""

from __future__ import annotations

import re

import pytest

from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, MAX_TOPICS, parse_taxonomy, taxonomy_to_dict


def test_default_taxonomy_is_version_1_with_the_core_cx_topics() -> None:
    ids = {t.id for t in DEFAULT_TAXONOMY.topics}
    assert DEFAULT_TAXONOMY.version == 1
    assert 12 <= len(ids) <= 16
    assert {"billing", "login_access", "wait_time", "staff_attitude", "delivery", "cancellation", "refunds"} <= ids
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids)
    assert all(t.name and t.description and t.keywords and t.examples for t in DEFAULT_TAXONOMY.topics)


def test_default_taxonomy_round_trips_through_a_dict() -> None:
    data = taxonomy_to_dict(DEFAULT_TAXONOMY)
    assert parse_taxonomy(data, version=1) == DEFAULT_TAXONOMY


def test_parse_fills_optional_fields_and_lowercases_keywords() -> None:
    taxonomy = parse_taxonomy({"topics": [{"id": "parking", "name": "Parking", "keywords": ["Car Park"]}]}, 3)
    assert taxonomy.version == 3
    assert taxonomy.topics[0].keywords == ("car park",)
    assert taxonomy.topics[0].description == ""
    assert taxonomy.topics[0].examples == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"topics": [{"id": "a", "name": "A"}, {"id": "a", "name": "B"}]}, "duplicate topic id 'a'"),
        ({"topics": [{"id": "a", "name": "  "}]}, "'name' must not be empty"),
        ({"topics": [{"id": "Bad Id", "name": "A"}]}, "must be snake_case"),
        ({"topics": [{"id": f"t{i}", "name": "T"} for i in range(MAX_TOPICS + 1)]}, "at most 64 are allowed"),
        ({"topics": []}, "at least one topic"),
        ({"nothing": 1}, "'topics' list"),
        ({"topics": [{"id": "a", "name": "A", "keywords": "billing"}]}, "'keywords' must be a list"),
        ({"topics": ["billing"]}, "each topic must be an object"),
    ],
)
def test_parse_refuses_bad_input_with_a_clear_message(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_taxonomy(data, version=2)


def test_parse_refuses_a_non_positive_version() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        parse_taxonomy({"topics": [{"id": "a", "name": "A"}]}, version=0)
