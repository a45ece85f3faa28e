"""The stage map decides each step's stage, refuses bad maps with clear messages, and survives a round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cxm_journey.domain.stages import (
    DEFAULT_STAGE_MAP,
    DEFAULT_STAGES,
    StageMap,
    StageRule,
    is_support_contact,
    parse_stage_map,
    stage_map_to_dict,
    stage_of,
)


@pytest.mark.parametrize(
    ("name", "stage"),
    [
        ("page_viewed", "awareness"),
        ("ad_clicked", "awareness"),
        ("pricing_viewed", "consideration"),
        ("demo_requested", "consideration"),
        ("trial_started", "consideration"),
        ("checkout_started", "purchase"),
        ("order_placed", "purchase"),
        ("purchase_completed", "purchase"),
        ("subscription_started", "purchase"),
        ("signup_completed", "onboarding"),
        ("onboarding_step_completed", "onboarding"),
        ("account_activated", "onboarding"),
        ("login", "usage"),
        ("feature_used", "usage"),
        ("session_started", "usage"),
        ("ticket_opened", "support"),
        ("conversation_started", "support"),
        ("call_received", "support"),
        ("chat_started", "support"),
        ("invoice_sent", "billing"),
        ("payment_failed", "billing"),
        ("refund_requested", "billing"),
        ("renewal_reminder_sent", "renewal"),
        ("subscription_renewed", "renewal"),
        ("plan_upgraded", "renewal"),
        ("subscription_cancelled", "churned"),
        ("account_closed", "churned"),
        ("churned", "churned"),
        ("membership_cancelled", "churned"),
    ],
)
def test_the_default_map_stages_common_interaction_names(name: str, stage: str) -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name=name, touchpoint=None) == stage


def test_the_default_map_has_the_default_stages_as_version_1() -> None:
    assert DEFAULT_STAGE_MAP.version == 1
    assert DEFAULT_STAGE_MAP.stages == DEFAULT_STAGES
    assert DEFAULT_STAGE_MAP.support_stages == ("support",)
    assert DEFAULT_STAGE_MAP.terminal_stages == ("churned",)
    assert DEFAULT_STAGE_MAP.steady_stages == ("usage",)


def test_a_more_specific_rule_wins_over_the_cancellation_glob() -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name="payment_cancelled", touchpoint=None) == "billing"
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name="ticket_cancelled", touchpoint=None) == "support"


@pytest.mark.parametrize(
    ("touchpoint", "stage"),
    [("checkout", "purchase"), ("support", "support"), ("Help_Center", "support"), (" billing ", "billing")],
)
def test_feedback_is_staged_by_its_touchpoint_ignoring_case_and_spaces(touchpoint: str, stage: str) -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="feedback", name=None, touchpoint=touchpoint) == stage


def test_feedback_at_no_mapped_touchpoint_does_not_move_the_customer() -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="feedback", name=None, touchpoint=None) is None
    assert stage_of(DEFAULT_STAGE_MAP, kind="feedback", name=None, touchpoint="somewhere else") is None
    assert stage_of(DEFAULT_STAGE_MAP, kind="feedback", name="login", touchpoint=None) is None


def test_an_unknown_interaction_name_falls_back_to_its_touchpoint() -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name="button_clicked", touchpoint=None) is None
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name="button_clicked", touchpoint="checkout") == "purchase"


def test_an_interaction_name_wins_over_its_touchpoint() -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name="ticket_opened", touchpoint="checkout") == "support"


def test_interaction_names_match_regardless_of_case() -> None:
    assert stage_of(DEFAULT_STAGE_MAP, kind="interaction", name="Ticket_Opened", touchpoint=None) == "support"


def test_the_first_matching_rule_wins() -> None:
    m = StageMap(
        version=3,
        stages=("a", "b"),
        rules=(StageRule("a", names=("x_*",)), StageRule("b", names=("x_y",))),
        support_stages=(),
        terminal_stages=(),
        steady_stages=(),
    )

    assert stage_of(m, kind="interaction", name="x_y", touchpoint=None) == "a"


def test_a_glob_at_both_ends_matches_inside() -> None:
    m = parse_stage_map({"stages": ["s"], "rules": [{"stage": "s", "names": ["*cancel*"]}]}, version=1)

    assert stage_of(m, kind="interaction", name="pre_cancel_notice", touchpoint=None) == "s"
    assert stage_of(m, kind="interaction", name="order_placed", touchpoint=None) is None


def test_an_unknown_step_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown step kind 'email'"):
        stage_of(DEFAULT_STAGE_MAP, kind="email", name="x", touchpoint=None)


def test_only_interactions_in_a_support_stage_are_support_contacts() -> None:
    assert is_support_contact(DEFAULT_STAGE_MAP, "support", "interaction")
    assert not is_support_contact(DEFAULT_STAGE_MAP, "support", "feedback")
    assert not is_support_contact(DEFAULT_STAGE_MAP, "billing", "interaction")
    assert not is_support_contact(DEFAULT_STAGE_MAP, None, "interaction")


def test_the_default_map_survives_a_round_trip_through_json() -> None:
    data = json.loads(json.dumps(stage_map_to_dict(DEFAULT_STAGE_MAP)))

    assert parse_stage_map(data, version=1) == DEFAULT_STAGE_MAP


def test_parsing_gives_the_map_the_version_asked_for() -> None:
    data = stage_map_to_dict(DEFAULT_STAGE_MAP)

    parsed = parse_stage_map(data, version=4)

    assert parsed.version == 4
    assert parsed.rules == DEFAULT_STAGE_MAP.rules


def test_a_custom_map_survives_a_round_trip() -> None:
    m = StageMap(
        version=2,
        stages=("browse", "buy", "help", "gone"),
        rules=(
            StageRule("browse", names=("view_*",), touchpoints=("web",)),
            StageRule("buy", names=("paid",)),
            StageRule("help", names=("*_ticket",), touchpoints=("desk",)),
            StageRule("gone", names=("left",)),
        ),
        support_stages=("help",),
        terminal_stages=("gone",),
        steady_stages=(),
    )

    assert parse_stage_map(stage_map_to_dict(m), version=2) == m


def test_roles_left_out_default_to_the_default_roles_the_map_has() -> None:
    m = parse_stage_map({"stages": ["usage", "support"], "rules": [{"stage": "usage", "names": ["login"]}]}, 1)

    assert m.support_stages == ("support",)
    assert m.steady_stages == ("usage",)
    assert m.terminal_stages == ()


def _with(**changes: Any) -> dict[str, Any]:
    """A valid small map's data with some fields replaced."""
    data: dict[str, Any] = {
        "stages": ["usage", "support", "churned"],
        "rules": [{"stage": "usage", "names": ["login"]}, {"stage": "support", "names": ["ticket_*"]}],
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(stages=[]), "stages must not be empty"),
        (_with(stages=None), "needs stages"),
        (_with(stages="usage"), "stages must be a list of strings"),
        (_with(stages=["usage", "usage"]), "stage 'usage' is listed twice"),
        (_with(stages=["Usage"]), "must start with a lower-case letter"),
        (_with(rules=[]), "rules must not be empty"),
        (_with(rules=[{"stage": "billing", "names": ["x"]}]), "rule 1 maps to unknown stage 'billing'"),
        (_with(rules=[{"stage": "usage"}]), r"rule 1 \(usage\) has neither names nor touchpoints"),
        (_with(rules=[{"stage": "usage", "names": "login"}]), "rule 1 names must be a list of strings"),
        (_with(rules=[{"stage": "usage", "names": ["log*in"]}]), "'\\*' only as its first or last"),
        (_with(rules=[{"stage": "usage", "names": ["*"]}]), "needs text besides"),
        (_with(rules=[{"stage": "usage", "names": ["**"]}]), "needs text besides"),
        (_with(rules=[{"stage": "usage", "names": ["log**"]}]), "'\\*' only as its first or last"),
        (_with(rules=[{"stage": "usage", "names": [""]}]), "must not be empty"),
        (_with(rules=[{"stage": "usage", "names": ["log in"]}]), "can never match"),
        (_with(rules=[{"stage": "usage", "touchpoints": [" web"]}]), "leading or trailing spaces"),
        (_with(rules=[{"stage": "usage", "names": ["x"], "when": "always"}]), "rule 1 has unknown field"),
        (_with(rules=["login"]), "rule 1 must be an object"),
        (_with(colour="blue"), "unknown field.*colour"),
        (_with(support_stages=["helpdesk"]), "support_stages names unknown stage 'helpdesk'"),
        (_with(terminal_stages=["churned", "churned"]), "lists stage 'churned' twice"),
        (_with(terminal_stages=["usage"], steady_stages=["usage"]), "cannot be both terminal"),
    ],
)
def test_a_bad_map_is_refused_with_a_clear_message(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_stage_map(data, version=1)


@pytest.mark.parametrize("version", [0, -1, True])
def test_a_version_must_be_a_positive_integer(version: int) -> None:
    with pytest.raises(ValueError, match="version must be a positive integer"):
        parse_stage_map(_with(), version=version)


def test_a_map_must_be_an_object() -> None:
    with pytest.raises(ValueError, match="must be an object"):
        parse_stage_map([], version=1)  # type: ignore[arg-type]


def test_a_tickets_lifecycle_is_not_another_contact() -> None:
    from cxm_journey.domain.stages import DEFAULT_STAGE_MAP, is_support_contact

    m = DEFAULT_STAGE_MAP
    assert is_support_contact(m, "support", "interaction", "ticket_opened")
    assert is_support_contact(m, "support", "interaction", "conversation_started")
    for name in ("ticket_solved", "ticket_closed", "conversation_ended", "ticket_updated"):
        assert not is_support_contact(m, "support", "interaction", name)
    assert not is_support_contact(m, "support", "feedback", None)
