"""What a subscription may ask for, and which events it then gets."""

from __future__ import annotations

import pytest

from cxm_actions.outbound.event_types import MAX_PATTERNS, check_patterns, matches, wanted


def test_exact_types_and_patterns_are_accepted_without_duplicates() -> None:
    patterns = ["actions.action.created.v1", "insight.alert.*", "journey.*", " journey.* "]
    assert check_patterns(patterns) == ("actions.action.created.v1", "insight.alert.*", "journey.*")


@pytest.mark.parametrize("pattern", ["ingest.*", "ingest.feedback.*", "ingest.feedback.received.v1"])
def test_ingest_events_are_refused_because_they_carry_personal_data(pattern: str) -> None:
    with pytest.raises(ValueError, match="personal data"):
        check_patterns([pattern])


@pytest.mark.parametrize("pattern", ["gateway.*", "billing.invoice.paid.v1"])
def test_other_services_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="not delivered; choose insight, journey, actions"):
        check_patterns([pattern])


@pytest.mark.parametrize(
    "pattern", ["*", "insight", "insight.alert", "insight.alert.raised", "insight.*.raised.v1", "Insight.*", "a.b.c.v0"]
)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="neither an event type"):
        check_patterns([pattern])


@pytest.mark.parametrize("pattern", ["actions.subscription.*", "actions.subscription.created.v1"])
def test_subscription_events_cannot_be_asked_for(pattern: str) -> None:
    with pytest.raises(ValueError, match="subscription events"):
        check_patterns([pattern])


def test_the_number_of_patterns_is_bounded() -> None:
    with pytest.raises(ValueError, match=f"at most {MAX_PATTERNS}"):
        check_patterns([f"insight.a{i}.*" for i in range(MAX_PATTERNS + 1)])
    with pytest.raises(ValueError, match="at least one"):
        check_patterns([])


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("insight.*", "insight.alert.raised.v1", True),
        ("insight.alert.*", "insight.alert.raised.v1", True),
        ("insight.alert.*", "insight.alerts.raised.v1", False),
        ("insight.alert.raised.v1", "insight.alert.raised.v1", True),
        ("insight.alert.raised.v1", "insight.alert.raised.v2", False),
        ("insight.*", "insights.alert.raised.v1", False),
        ("journey.*", "insight.alert.raised.v1", False),
    ],
)
def test_patterns_match_by_segment(pattern: str, event_type: str, expected: bool) -> None:
    assert matches(pattern, event_type) is expected


def test_subscription_events_are_never_delivered_even_to_actions_star() -> None:
    assert wanted(("actions.*",), "actions.action.created.v1")
    assert not wanted(("actions.*",), "actions.subscription.created.v1")
