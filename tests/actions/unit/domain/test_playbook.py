"""The playbook: the most specific play wins whatever the order, tenants' plays are validated, and plays are scored."""

from __future__ import annotations

import random
from typing import Any

import pytest

from cxm_actions.domain.playbook import (
    DEFAULT_PLAYBOOK,
    Play,
    PlayOutcome,
    PlayStats,
    parse_playbook,
    play_stats,
    playbook_to_dict,
    suggest,
)


def pick(**seen: Any) -> str | None:
    """The id of the default play suggested for what was seen."""
    play = suggest(DEFAULT_PLAYBOOK, **seen)
    return play.id if play else None


def test_billing_gets_a_refund_or_credit() -> None:
    """Billing feedback is answered with a refund or credit and an explanation."""
    play = suggest(DEFAULT_PLAYBOOK, topics=["billing"], intent="complaint", signals=[])
    assert play is not None and play.action == "refund or credit and explain the charge"


def test_churn_threat_gets_a_call_within_a_day() -> None:
    """A churn threat, by intent or by churn signal, is answered with a call and a retention offer."""
    for seen in ({"intent": "churn_threat"}, {"signals": ["churn_threat", "inactivity"]}):
        play = suggest(DEFAULT_PLAYBOOK, topics=["delivery_nope"], **seen)
        assert play is not None and play.action == "call within 24h with a retention offer"


def test_login_trouble_gets_access_reset() -> None:
    """Login problems are answered by resetting access."""
    play = suggest(DEFAULT_PLAYBOOK, topics=["login_access"], intent="complaint", signals=[])
    assert play is not None and play.action.startswith("reset access and walk")


def test_the_most_specific_play_wins() -> None:
    """A play meeting both a topic and an intent beats plays meeting one of them, whatever their priority."""
    assert pick(topics=["billing"], intent="churn_threat") == "billing_churn_threat"
    assert pick(topics=["billing"], intent="complaint") == "billing"
    assert pick(topics=["technical_issue"], intent="churn_threat") == "churn_threat"


def test_specificity_beats_priority() -> None:
    """Two conditions met outrank one condition with a far higher priority."""
    plays = [
        Play("loud", "escalate", when_topics=("billing",), priority=100),
        Play("precise", "credit", when_topics=("billing",), when_signals=("recent_detractor",), priority=0),
    ]
    assert suggest(plays, topics=["billing"], intent=None, signals=["recent_detractor"]) == plays[1]
    assert suggest(plays, topics=["billing"], intent=None, signals=[]) == plays[0]


def test_priority_then_id_break_ties_whatever_the_order() -> None:
    """Equally specific plays are ranked by priority, then by id; the playbook's order never matters."""
    plays = [
        Play("b", "second", when_topics=("billing",), priority=1),
        Play("a", "first", when_topics=("billing",), priority=1),
        Play("c", "low", when_topics=("billing",), priority=0),
    ]
    for seed in range(5):
        shuffled = plays[:]
        random.Random(seed).shuffle(shuffled)
        chosen = suggest(shuffled, topics=["billing"], intent=None, signals=[])
        assert chosen is not None and chosen.id == "a"


def test_every_condition_of_a_play_must_hold() -> None:
    """A play with a topic and an intent does not apply when only the topic matches."""
    play = Play("p", "x", when_topics=("billing",), when_intents=("churn_threat",))
    assert suggest([play], topics=["billing"], intent="complaint", signals=[]) is None


def test_fallback_applies_when_nothing_else_does() -> None:
    """The default playbook always has something to suggest; a playbook without a fallback may not."""
    assert pick(topics=["weather"], intent="other") == "general"
    assert pick() == "general"
    assert suggest([Play("p", "x", when_topics=("billing",))], topics=["delivery"], intent=None, signals=[]) is None


def test_default_playbook_has_about_ten_distinct_plays() -> None:
    """The defaults cover the common topics and signals with unique ids and one fallback."""
    ids = [p.id for p in DEFAULT_PLAYBOOK]
    assert len(ids) == len(set(ids)) >= 10
    assert [p.id for p in DEFAULT_PLAYBOOK if p.conditions == 0] == ["general"]


def test_playbook_round_trips() -> None:
    """playbook_to_dict and parse_playbook are inverses."""
    assert parse_playbook(playbook_to_dict(DEFAULT_PLAYBOOK)) == DEFAULT_PLAYBOOK
    assert parse_playbook({"plays": playbook_to_dict(DEFAULT_PLAYBOOK)}) == DEFAULT_PLAYBOOK


def test_parse_fills_defaults() -> None:
    """Conditions and priority are optional."""
    assert parse_playbook([{"id": "p", "action": " call them "}]) == (Play("p", "call them"),)


GOOD = {"id": "p", "action": "call", "when_topics": ["billing"]}


@pytest.mark.parametrize(
    ("playbook", "message"),
    [
        ("call", "expected a list of plays"),
        ({"rules": []}, "expected a list of plays or an object"),
        ([None], r"plays\[0\]: must be an object"),
        ([{**GOOD, "id": "P 1"}], r"plays\[0\] \(P 1\)\.id"),
        ([{**GOOD, "action": ""}], r"plays\[0\] \(p\)\.action: must be a non-empty string"),
        ([{**GOOD, "action": "x" * 301}], r"\.action: at most 300"),
        ([{**GOOD, "when_topics": "billing"}], r"\.when_topics: must be a list"),
        ([{**GOOD, "when_intents": ["Churn Threat"]}], r"\.when_intents: 'Churn Threat' is not a snake_case name"),
        ([{**GOOD, "priority": 1.5}], r"\.priority: must be an integer"),
        ([{**GOOD, "when": ["billing"]}], r"unknown field\(s\) when"),
        ([GOOD, GOOD], r"plays\[1\] \(p\)\.id: duplicate play id"),
    ],
)
def test_parse_refuses_bad_plays_naming_where(playbook: Any, message: str) -> None:
    """Each malformed play is refused with a message naming the play and field."""
    with pytest.raises(ValueError, match=message):
        parse_playbook(playbook)


def test_stats_count_use_follow_up_and_recovery() -> None:
    """Per play: suggestions, uses, follow-ups, recoveries, and recovery when used vs not used (known ones only)."""
    outcomes = [
        PlayOutcome("billing", used=True, followed_up=True, recovered=True),
        PlayOutcome("billing", used=True, followed_up=True, recovered=True),
        PlayOutcome("billing", used=True, followed_up=True, recovered=False),
        PlayOutcome("billing", used=True, followed_up=False, recovered=None),
        PlayOutcome("billing", used=False, followed_up=True, recovered=False),
        PlayOutcome("billing", used=False, followed_up=True, recovered=True),
        PlayOutcome("billing", used=False, followed_up=False, recovered=False),
        PlayOutcome("billing", used=False, followed_up=False, recovered=False),
        PlayOutcome("churn_threat", used=False, followed_up=False, recovered=None),
    ]
    assert play_stats(outcomes) == [
        PlayStats("billing", suggested=8, used=4, followed_up=5, recovered=3,
                  recovery_rate_used=2 / 3, recovery_rate_not_used=1 / 4),
        PlayStats("churn_threat", suggested=1, used=0, followed_up=0, recovered=0,
                  recovery_rate_used=None, recovery_rate_not_used=None),
    ]  # fmt: skip


def test_stats_of_nothing_is_empty() -> None:
    """No outcomes, no rows."""
    assert play_stats([]) == []
