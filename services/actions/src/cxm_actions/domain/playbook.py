"""The playbook: the next best action for a customer, chosen from plays a tenant can edit, and how plays fare.

A play applies when each of its non-empty conditions holds: one of `when_topics` is among the feedback's topics,
the intent is one of `when_intents`, one of `when_signals` is among the customer's churn signals. A play without
conditions applies always (a fallback). `suggest` picks the most specific play that applies (the most conditions
met), then the highest priority, then the smallest id, so the choice never depends on the playbook's order.

`play_stats` counts, per play, how often it was suggested, used, followed up and followed by recovery, and compares
the recovery rate when the play was used with the rate when it was suggested but not used (each among the
outcomes whose recovery is known).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_PLAYS = 200
MAX_ACTION_CHARS = 300
MAX_CONDITIONS = 100
_PLAY_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Play:
    """One recommended action and the topics, intents or churn signals it is for."""

    id: str
    action: str
    when_topics: tuple[str, ...] = ()
    when_intents: tuple[str, ...] = ()
    when_signals: tuple[str, ...] = ()
    priority: int = 0

    @property
    def conditions(self) -> int:
        """How many kinds of condition the play sets (its specificity when it applies)."""
        return sum(bool(c) for c in (self.when_topics, self.when_intents, self.when_signals))


DEFAULT_PLAYBOOK: tuple[Play, ...] = (
    Play(
        "billing_churn_threat",
        "call within 24h: correct or credit the charge, explain it, and make a retention offer",
        when_topics=("billing", "pricing", "refunds"),
        when_intents=("churn_threat",),
        priority=20,
    ),
    Play("churn_threat", "call within 24h with a retention offer", when_intents=("churn_threat",), priority=10),
    Play("churn_risk", "call within 24h with a retention offer", when_signals=("churn_threat",), priority=10),
    Play("billing", "refund or credit and explain the charge", when_topics=("billing",), priority=5),
    Play(
        "refunds", "chase the refund, confirm the date it lands, and apologise for the wait", when_topics=("refunds",)
    ),
    Play("pricing", "review their plan and offer a better-fitting plan or a discount", when_topics=("pricing",)),
    Play(
        "login_access",
        "reset access and walk them through signing in",
        when_topics=("login_access",),
        priority=5,
    ),
    Play(
        "technical_issue",
        "open a ticket with engineering, share a workaround, and report back when it is fixed",
        when_topics=("technical_issue",),
    ),
    Play(
        "delivery",
        "trace the order, reship or refund it, and confirm the new date in writing",
        when_topics=("delivery", "lost_damaged"),
    ),
    Play(
        "cancellation_booking",
        "rebook or reinstate it at no cost and confirm by email",
        when_topics=("cancellation", "booking"),
    ),
    Play(
        "wait_time",
        "apologise, give a firm time for the fix and a direct contact",
        when_topics=("wait_time", "communication"),
    ),
    Play(
        "staff_attitude",
        "a team lead calls to apologise and reviews the interaction with the agent",
        when_topics=("staff_attitude",),
    ),
    Play(
        "repeated_contacts",
        "give the case a single owner who resolves it end to end",
        when_signals=("repeated_contacts",),
        priority=5,
    ),
    Play(
        "inactivity",
        "check in with help to get value from the product (a short guided session)",
        when_signals=("inactivity", "abandonment"),
    ),
    Play("general", "call the customer to understand the problem and agree on a fix", priority=-10),
)


def _matches(wanted: tuple[str, ...], have: Iterable[str]) -> bool:
    """Whether a condition is unset or shares a value with what was seen."""
    return not wanted or bool(set(wanted) & set(have))


def applies(play: Play, *, topics: Iterable[str], intent: str | None, signals: Iterable[str]) -> bool:
    """Whether each of a play's conditions holds."""
    return (
        _matches(play.when_topics, topics)
        and _matches(play.when_intents, [intent] if intent else [])
        and _matches(play.when_signals, signals)
    )


def suggest(
    playbook: Iterable[Play], *, topics: Iterable[str] = (), intent: str | None = None, signals: Iterable[str] = ()
) -> Play | None:
    """The most specific play that applies, then the highest priority, then the smallest id; None if none does."""
    topic_set, signal_set = set(topics), set(signals)
    fits = [p for p in playbook if applies(p, topics=topic_set, intent=intent, signals=signal_set)]
    if not fits:
        return None
    return min(fits, key=lambda p: (-p.conditions, -p.priority, p.id))


# ---------------------------------------------------------------------------------------------------------------------
# Parsing


def _names(raw: Any, where: str) -> tuple[str, ...]:
    """A validated tuple of snake_case names (topics, intents or signals)."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        raise ValueError(f"{where}: must be a list of names")
    if len(raw) > MAX_CONDITIONS:
        raise ValueError(f"{where}: at most {MAX_CONDITIONS} names")
    for x in raw:
        if not isinstance(x, str) or not _NAME.match(x):
            raise ValueError(f"{where}: {x!r} is not a snake_case name")
    return tuple(dict.fromkeys(raw))


def _play(index: int, raw: Any) -> Play:
    """One validated play."""
    where = f"plays[{index}]"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object")
    pid = raw.get("id")
    if isinstance(pid, str) and pid:
        where += f" ({pid})"
    extra = sorted(set(raw) - {"id", "action", "when_topics", "when_intents", "when_signals", "priority"})
    if extra:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(str, extra))}")
    if not isinstance(pid, str) or not _PLAY_ID.match(pid):
        raise ValueError(f"{where}.id: must be lowercase letters, digits, '_' or '-', starting with a letter (≤ 64)")
    action = raw.get("action")
    if not isinstance(action, str) or not action.strip():
        raise ValueError(f"{where}.action: must be a non-empty string")
    if len(action) > MAX_ACTION_CHARS:
        raise ValueError(f"{where}.action: at most {MAX_ACTION_CHARS} characters")
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int) or abs(priority) > 1000:
        raise ValueError(f"{where}.priority: must be an integer between -1000 and 1000")
    return Play(
        id=pid,
        action=action.strip(),
        when_topics=_names(raw.get("when_topics"), f"{where}.when_topics"),
        when_intents=_names(raw.get("when_intents"), f"{where}.when_intents"),
        when_signals=_names(raw.get("when_signals"), f"{where}.when_signals"),
        priority=priority,
    )


def parse_playbook(data: Any) -> tuple[Play, ...]:
    """Validate a tenant's playbook (a list of plays, or {"plays": [...]}); ValueError names where it is wrong."""
    if isinstance(data, Mapping):
        if set(data) - {"plays", "version"}:
            raise ValueError("playbook: expected a list of plays or an object with 'plays'")
        data = data.get("plays")
    if not isinstance(data, list | tuple):
        raise ValueError("playbook: expected a list of plays")
    if len(data) > MAX_PLAYS:
        raise ValueError(f"playbook: at most {MAX_PLAYS} plays")
    plays = tuple(_play(i, raw) for i, raw in enumerate(data))
    seen: set[str] = set()
    for i, play in enumerate(plays):
        if play.id in seen:
            raise ValueError(f"plays[{i}] ({play.id}).id: duplicate play id")
        seen.add(play.id)
    return plays


def playbook_to_dict(playbook: Iterable[Play]) -> list[dict[str, Any]]:
    """The JSON form of a playbook, which parse_playbook reads back."""
    return [
        {
            "id": p.id,
            "action": p.action,
            "when_topics": list(p.when_topics),
            "when_intents": list(p.when_intents),
            "when_signals": list(p.when_signals),
            "priority": p.priority,
        }
        for p in playbook
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Outcomes


@dataclass(frozen=True)
class PlayOutcome:
    """What became of one suggestion: was the play used, was the customer followed up, did they recover."""

    play_id: str
    used: bool
    followed_up: bool
    recovered: bool | None = None


@dataclass(frozen=True)
class PlayStats:
    """How one play fared: counts, and recovery when used versus when suggested but not used."""

    play_id: str
    suggested: int
    used: int
    followed_up: int
    recovered: int
    recovery_rate_used: float | None
    recovery_rate_not_used: float | None


def _rate(results: list[bool | None]) -> float | None:
    """The share of True among known results, or None when none is known."""
    known = [r for r in results if r is not None]
    return sum(known) / len(known) if known else None


def play_stats(outcomes: Iterable[PlayOutcome]) -> list[PlayStats]:
    """Per play (in id order): suggested, used, followed up, recovered, and recovery when used vs not used."""
    by_play: dict[str, list[PlayOutcome]] = {}
    for outcome in outcomes:
        by_play.setdefault(outcome.play_id, []).append(outcome)
    return [
        PlayStats(
            play_id=pid,
            suggested=len(rows),
            used=sum(o.used for o in rows),
            followed_up=sum(o.followed_up for o in rows),
            recovered=sum(o.recovered is True for o in rows),
            recovery_rate_used=_rate([o.recovered for o in rows if o.used]),
            recovery_rate_not_used=_rate([o.recovered for o in rows if not o.used]),
        )
        for pid, rows in sorted(by_play.items())
    ]
