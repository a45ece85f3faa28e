"""Automation rules: the defaults' proposals for each kind of fact, tenant conditions, dedupe keys and parsing."""

from __future__ import annotations

from typing import Any

import pytest

from cxm_actions.domain.rules import (
    DEFAULT_RULES,
    Proposal,
    Rule,
    Trigger,
    parse_rules,
    propose,
    rules_to_dict,
)

from .items import DAY, HOUR, T0


def detractor(nps: int | None = 3, csat: int | None = None, customer: str | None = "c1", **data: Any) -> Trigger:
    """A detractor_feedback fact about billing by email."""
    fact = {
        "feedback_id": "f1",
        "nps": nps,
        "csat": csat,
        "channel": "email",
        "topics": ["billing"],
        "intent": "complaint",
        "sentiment_label": "negative",
        **data,
    }
    return Trigger("detractor_feedback", "e1", T0, customer, fact)


def alert(kind: str = "negativity_rise", key: str = "billing", severity: str = "high") -> Trigger:
    """An insight alert fact."""
    fact = {"alert_id": "al1", "kind": kind, "key": key, "severity": severity, "evidence": {"observed": 41.0}}
    return Trigger("alert", "e2", T0, None, fact)


def churn(score: float = 0.82, value: float | None = 1200.0) -> Trigger:
    """A churn_risk_high fact for customer c7."""
    reasons = [
        {"signal": "churn_threat", "weight": 0.5, "detail": "churn threat in feedback on 2024-02-28"},
        {"signal": "recent_detractor", "weight": 0.35, "detail": "NPS 2 on 2024-02-28"},
    ]
    fact = {"score": score, "level": "high", "reasons": reasons, "value": value}
    return Trigger("churn_risk_high", "e3", T0, "c7", fact)


def friction(kind: str = "stage", key: str = "onboarding", impact: float = 42.5) -> Trigger:
    """A friction-point fact."""
    fact = {"friction_id": "fr1", "kind": kind, "key": key, "impact": impact, "value_at_stake": 9000.0}
    return Trigger("friction", "e4", T0, None, fact)


def only(proposals: list[Proposal]) -> Proposal:
    """The single proposal of a list."""
    assert len(proposals) == 1, proposals
    return proposals[0]


def test_detractor_gets_a_close_loop_item_due_in_48_hours() -> None:
    """NPS 3 calls for a high-priority close-loop follow-up due two days later, keyed by the customer."""
    p = only(propose(DEFAULT_RULES, detractor(nps=3)))
    assert (p.rule_id, p.kind, p.priority) == ("detractor_follow_up", "close_loop", "high")
    assert p.due_at == T0 + 48 * HOUR
    assert p.title == "Follow up with detractor (NPS 3) about billing"
    assert p.customer_id == "c1"
    assert p.dedupe_key == "customer:c1"
    assert p.links == {"feedback": "f1", "customer": "c1", "event": "e1"}
    assert "answered NPS 3 via email about billing" in p.description


def test_promoter_and_passive_answers_get_nothing() -> None:
    """NPS 8 (or 7, or 10) is no detractor."""
    for nps in (7, 8, 10):
        assert propose(DEFAULT_RULES, detractor(nps=nps)) == []


def test_nps_six_is_the_last_detractor_score() -> None:
    """The threshold is inclusive: 6 is a detractor."""
    assert len(propose(DEFAULT_RULES, detractor(nps=6))) == 1


def test_low_csat_is_a_detractor_too() -> None:
    """CSAT 2 or less calls for a follow-up; CSAT 3 does not."""
    p = only(propose(DEFAULT_RULES, detractor(nps=None, csat=2)))
    assert p.title == "Follow up with detractor (CSAT 2) about billing"
    assert propose(DEFAULT_RULES, detractor(nps=None, csat=3)) == []


def test_unscored_feedback_gets_nothing_by_default() -> None:
    """Without an NPS or CSAT answer the default rule does not fire, even when the text is negative."""
    assert propose(DEFAULT_RULES, detractor(nps=None, csat=None)) == []


def test_anonymous_detractor_is_keyed_by_its_feedback() -> None:
    """Without a customer, the follow-up is keyed by the feedback."""
    p = only(propose(DEFAULT_RULES, detractor(customer=None)))
    assert p.dedupe_key == "feedback:f1"
    assert "customer" not in p.links


def test_text_excerpt_is_quoted_in_the_description() -> None:
    """What the customer wrote is part of the description."""
    p = only(propose(DEFAULT_RULES, detractor(text_excerpt="charged twice!")))
    assert p.description.endswith('They wrote: "charged twice!"')


def test_alert_gets_an_improvement_due_in_a_week() -> None:
    """An insight alert calls for an improvement keyed by the alert's kind and key."""
    p = only(propose(DEFAULT_RULES, alert()))
    assert (p.kind, p.priority) == ("improvement", "medium")
    assert p.due_at == T0 + 7 * DAY
    assert p.dedupe_key == "alert:negativity_rise:billing"
    assert p.title == "Investigate: negativity rise in billing"
    assert p.links == {"alert": "al1", "event": "e2"}
    assert p.customer_id is None


def test_churn_risk_high_gets_a_retention_outreach_within_a_day() -> None:
    """High churn risk calls for an urgent close-loop retention outreach to the customer, due in 24 hours."""
    p = only(propose(DEFAULT_RULES, churn()))
    assert (p.kind, p.priority) == ("close_loop", "urgent")
    assert p.title.startswith("Retention outreach")
    assert p.title == "Retention outreach (churn risk 0.82: churn threat and recent detractor)"
    assert p.due_at == T0 + 24 * HOUR
    assert p.dedupe_key == "customer:c7"
    assert "Value at risk: 1,200." in p.description
    assert "churn threat: churn threat in feedback on 2024-02-28" in p.description


def test_friction_point_gets_an_improvement_due_in_two_weeks() -> None:
    """A friction stage calls for an improvement keyed by the stage."""
    p = only(propose(DEFAULT_RULES, friction()))
    assert (p.kind, p.due_at) == ("improvement", T0 + 14 * DAY)
    assert p.title == "Reduce friction at the onboarding stage (impact 42.5)"
    assert p.dedupe_key == "stage:onboarding"
    assert p.links == {"friction": "fr1", "event": "e4"}


def test_friction_transition_is_keyed_by_the_move() -> None:
    """A friction transition has its own key."""
    p = only(propose(DEFAULT_RULES, friction(kind="transition", key="purchase→onboarding")))
    assert p.dedupe_key == "transition:purchase→onboarding"


def test_tenant_thresholds_and_filters() -> None:
    """Conditions narrow a rule: a stricter NPS bound, a channel list, a topic list."""
    [rule] = parse_rules(
        [
            {
                "id": "vip",
                "on": "detractor_feedback",
                "kind": "close_loop",
                "priority": "urgent",
                "sla_hours": 4,
                "title": "Call back",
                "team": "care",
                "conditions": {"max_nps": 4, "channels": ["email", "chat"], "topics": ["billing", "refunds"]},
            }
        ]
    )
    assert only(propose([rule], detractor(nps=4))).team == "care"
    assert propose([rule], detractor(nps=5)) == []
    assert propose([rule], detractor(nps=2, channel="phone")) == []
    assert propose([rule], detractor(nps=2, topics=["delivery"])) == []


def test_negative_condition_lets_unscored_feedback_through() -> None:
    """With negative: true, an unscored negative feedback is a detractor."""
    rule = Rule("neg", "detractor_feedback", "close_loop", "high", 48, "Follow up", conditions={"negative": True})
    p = only(propose([rule], detractor(nps=None)))
    assert p.title == "Follow up (negative sentiment) about billing"
    assert propose([rule], detractor(nps=None, sentiment_label="neutral")) == []


def test_alert_and_friction_conditions() -> None:
    """Alert kinds and severities, friction impact and kinds narrow their rules."""
    rules = parse_rules(
        [
            {"id": "a", "on": "alert", "kind": "improvement", "priority": "high", "sla_hours": 24, "title": "Fix",
             "conditions": {"alert_kinds": ["volume_spike"], "severities": ["high"]}},
            {"id": "f", "on": "friction", "kind": "improvement", "priority": "low", "sla_hours": None,
             "title": "Smooth", "conditions": {"min_impact": 50, "friction_kinds": ["stage"]}},
        ]
    )  # fmt: skip
    assert propose(rules, alert(kind="volume_spike")) != []
    assert propose(rules, alert(kind="negativity_rise")) == []
    assert propose(rules, alert(kind="volume_spike", severity="low")) == []
    assert propose(rules, friction(impact=42.5)) == []
    p = only(propose(rules, friction(impact=60)))
    assert p.due_at is None


def test_churn_conditions() -> None:
    """A minimum score and value narrow a churn rule."""
    rule = Rule("big", "churn_risk_high", "close_loop", "urgent", 8, "Save", conditions={"min_value": 1000.0})
    assert propose([rule], churn(value=1200.0)) != []
    assert propose([rule], churn(value=500.0)) == []
    assert propose([rule], churn(value=None)) == []


def test_disabled_rules_propose_nothing() -> None:
    """A disabled rule is kept but silent."""
    rule = Rule("off", "alert", "improvement", "medium", 24, "Investigate", enabled=False)
    assert propose([rule], alert()) == []


def test_rules_only_hear_their_own_trigger() -> None:
    """A friction rule does not fire on an alert."""
    rule = Rule("fr", "friction", "improvement", "medium", 24, "Fix")
    assert propose([rule], alert()) == []


def test_title_placeholders_are_filled_from_the_fact() -> None:
    """A title with placeholders is filled in rather than extended."""
    rule = Rule("t", "detractor_feedback", "close_loop", "high", 48, "Call {customer_id}: NPS {nps} on {topic}")
    assert only(propose([rule], detractor())).title == "Call c1: NPS 3 on billing"


def test_unknown_placeholders_stay_as_written() -> None:
    """A placeholder the fact cannot fill is left visible rather than failing."""
    rule = Rule("t", "alert", "improvement", "high", 48, "Look at {key} {nonsense}")
    assert only(propose([rule], alert())).title == "Look at billing {nonsense}"


def test_improvement_from_feedback_is_keyed_by_topic() -> None:
    """An improvement asked for by feedback is keyed by its first topic."""
    rule = Rule("topic", "detractor_feedback", "improvement", "medium", 168, "Fix the cause")
    assert only(propose([rule], detractor(topics=["refunds", "billing"]))).dedupe_key == "topic:refunds"


def test_two_rules_asking_for_the_same_item_keep_the_most_urgent() -> None:
    """Proposals of one fact sharing a dedupe key merge into the more urgent one."""
    slow = Rule("slow", "detractor_feedback", "close_loop", "medium", 72, "Follow up")
    fast = Rule("fast", "detractor_feedback", "close_loop", "urgent", 4, "Call now")
    fix = Rule("fix", "detractor_feedback", "improvement", "low", None, "Fix the cause")
    proposals = propose([slow, fix, fast], detractor())
    assert [(p.rule_id, p.dedupe_key) for p in proposals] == [("fast", "customer:c1"), ("fix", "topic:billing")]


def test_default_rules_round_trip() -> None:
    """rules_to_dict and parse_rules are inverses."""
    assert parse_rules(rules_to_dict(DEFAULT_RULES)) == DEFAULT_RULES
    assert parse_rules({"rules": rules_to_dict(DEFAULT_RULES)}) == DEFAULT_RULES


def test_defaults_cover_each_trigger_once() -> None:
    """The defaults listen to each kind of fact."""
    assert sorted(r.on for r in DEFAULT_RULES) == ["alert", "churn_risk_high", "detractor_feedback", "friction"]


GOOD = {"id": "r", "on": "alert", "kind": "improvement", "priority": "high", "sla_hours": 24, "title": "Fix"}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("nope", "expected a list"),
        ({"items": []}, "expected a list"),
        ([3], r"rules\[0\]: must be an object"),
        ([{**GOOD, "id": "Bad Id"}], r"rules\[0\] \(Bad Id\)\.id: must be lowercase"),
        ([{**GOOD, "on": "tweet"}], r"rules\[0\] \(r\)\.on: must be one of"),
        ([{**GOOD, "kind": "task"}], r"\.kind: must be one of close_loop, improvement"),
        ([{**GOOD, "priority": "critical"}], r"\.priority: must be one of"),
        ([{**GOOD, "sla_hours": -1}], r"\.sla_hours: must be a positive number"),
        ([{**GOOD, "sla_hours": "48"}], r"\.sla_hours"),
        ([{**GOOD, "sla_hours": 10**6}], r"\.sla_hours: at most"),
        ([{**GOOD, "title": "  "}], r"\.title: must be a non-empty string"),
        ([{**GOOD, "enabled": "yes"}], r"\.enabled"),
        ([{**GOOD, "colour": "red"}], r"unknown field\(s\) colour"),
        ([{**GOOD, "conditions": {"max_nps": 6}}], r"\.conditions\.max_nps: unknown condition for 'alert'"),
        ([{**GOOD, "conditions": {"alert_kinds": "volume_spike"}}], r"alert_kinds: must be a non-empty list"),
        ([{**GOOD, "conditions": []}], r"\.conditions: must be an object"),
        ([{**GOOD, "on": "detractor_feedback", "conditions": {"max_nps": 6.5}}], r"max_nps: must be an integer"),
        ([GOOD, GOOD], r"rules\[1\] \(r\)\.id: duplicate rule id"),
        ([GOOD] * 101, "at most 100 rules"),
    ],
)
def test_parse_refuses_bad_rules_naming_where(rules: Any, message: str) -> None:
    """Each malformed rule is refused with a message naming the rule and field."""
    with pytest.raises(ValueError, match=message):
        parse_rules(rules)


def test_parse_fills_defaults() -> None:
    """Optional fields take their defaults."""
    [rule] = parse_rules([{"id": "r", "on": "alert", "kind": "improvement", "title": "Fix"}])
    assert (rule.priority, rule.sla_hours, rule.enabled, rule.team, rule.conditions) == (
        "medium",
        None,
        True,
        None,
        {},
    )
