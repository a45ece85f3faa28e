"""Specification of taxonomy parsing: the default taxonomy, round trips and refusals."""

from __future__ import annotations

import re
from typing import Any

import pytest

from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY, MAX_TOPICS, parse_taxonomy, taxonomy_to_dict


def topic(topic_id: str = "billing", name: str = "Billing", **extra: Any) -> dict[str, Any]:
    """A minimal valid topic definition."""
    return {"id": topic_id, "name": name, **extra}


def test_default_taxonomy_is_version_1_with_a_dozen_or_so_snake_case_cx_topics() -> None:
    """The default covers the common CX topics, each with keywords and examples."""
    ids = [t.id for t in DEFAULT_TAXONOMY.topics]
    assert DEFAULT_TAXONOMY.version == 1
    assert 12 <= len(ids) <= 16
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in ids)
    for required in ("billing", "login_access", "wait_time", "staff_attitude", "delivery", "product_quality"):
        assert required in ids
    for required in ("pricing", "onboarding", "communication", "cancellation", "refunds", "technical_issue"):
        assert required in ids
    assert all(t.keywords and t.examples and t.description for t in DEFAULT_TAXONOMY.topics)


def test_a_taxonomy_round_trips_through_its_dict_form() -> None:
    """taxonomy_to_dict is what parse_taxonomy reads."""
    assert parse_taxonomy(taxonomy_to_dict(DEFAULT_TAXONOMY), 1) == DEFAULT_TAXONOMY


def test_optional_fields_default_to_empty_and_strings_are_trimmed() -> None:
    """Only id and name are required."""
    parsed = parse_taxonomy({"topics": [topic(name="  Billing  ", keywords=[" invoice ", "invoice"])]}, 3)
    assert parsed.version == 3
    assert parsed.topics[0].name == "Billing"
    assert parsed.topics[0].keywords == ("invoice",)
    assert parsed.topics[0].examples == ()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"topics": [topic("billing"), topic("billing", "Payments")]}, "topic 'billing': duplicate id"),
        ({"topics": [topic(name="")]}, "topic 'billing': name must be a non-empty string"),
        ({"topics": [topic(name="   ")]}, "name must be a non-empty string"),
        ({"topics": [topic(f"t{i}") for i in range(MAX_TOPICS + 1)]}, f"too many topics: {MAX_TOPICS + 1}"),
        ({"topics": []}, "non-empty 'topics' list"),
        ({}, "non-empty 'topics' list"),
        ({"topics": [topic("Billing Issues")]}, "topic 1: id must be snake_case"),
        ({"topics": [topic(keywords="bill")]}, "keywords must be a list of strings"),
        ({"topics": [topic(examples=["ok", ""])]}, "examples must not contain empty strings"),
        ({"topics": ["billing"]}, "topic 1: must be an object"),
    ],
)
def test_bad_taxonomies_are_refused_with_a_clear_message(data: dict[str, Any], message: str) -> None:
    """Every refusal names the topic and the problem."""
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_taxonomy(data, 2)


def test_version_must_be_positive() -> None:
    """Taxonomy versions count from 1."""
    with pytest.raises(ValueError, match="version"):
        parse_taxonomy({"topics": [topic()]}, 0)
