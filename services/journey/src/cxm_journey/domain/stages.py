"""The versioned stage map: which journey stage an interaction or a feedback puts a customer in.

A map lists its stages in journey order and a sequence of rules. A rule names a stage and the interaction names and
touchpoints that mean the customer is in it. A pattern is exact or carries a `*` at its start, its end or both:
`ticket_*` (starts with), `*_cancelled` (ends with), `*cancel*` (contains). Matching ignores case and surrounding
spaces.

`stage_of` decides a step's stage: for an interaction, the first rule whose names match its name, else the first rule
whose touchpoints match its touchpoint; for a feedback, the first rule whose touchpoints match. No match means the
step does not move the customer: it belongs to the stage they are already in.

The map also says which stages are support (an interaction there is a support contact), terminal (the customer has
left) and steady (staying there is normal use, not abandonment).

Default map, version 1 (rules in this order, first match wins):
- churned: `subscription_cancelled`, `account_closed`, `churned`; touchpoints `cancellation`, `cancel`;
- awareness: `page_viewed`, `ad_clicked`, `email_opened`, `content_viewed`; touchpoints `website`, `ad`, `ads`,
  `social`, `blog`, `landing_page`;
- consideration: `pricing_viewed`, `demo_requested`, `trial_started`, `quote_requested`; touchpoints `pricing`,
  `demo`, `trial`;
- purchase: `checkout_started`, `order_placed`, `purchase_completed`, `subscription_started`, `cart_*`; touchpoints
  `checkout`, `cart`, `purchase`, `order`, `delivery`, `shipping`;
- onboarding: `signup_completed`, `onboarding_*`, `account_activated`; touchpoints `signup`, `onboarding`, `setup`;
- usage: `login`, `logged_in`, `feature_used`, `session_started`; touchpoints `app`, `product`, `dashboard`,
  `mobile_app`;
- support: `ticket_*`, `conversation_*`, `call_*`, `chat_*`; touchpoints `support`, `help`, `help_center`,
  `contact_center`, `call_center`, `chat`;
- billing: `invoice_*`, `payment_*`, `refund_*`; touchpoints `billing`, `invoice`, `payment`, `refund`;
- renewal: `renewal_*`, `subscription_renewed`, `plan_upgraded`; touchpoints `renewal`;
- churned: `*_cancelled` last, so that a more specific rule above wins (`payment_cancelled` is billing, `ticket_*`
  support) and any other cancellation (`plan_cancelled`, `membership_cancelled`, `order_cancelled`) means churn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

DEFAULT_STAGES = (
    "awareness",
    "consideration",
    "purchase",
    "onboarding",
    "usage",
    "support",
    "billing",
    "renewal",
    "churned",
)
KINDS = ("interaction", "feedback")
MAX_STAGES = 50
MAX_RULES = 200
MAX_PATTERNS = 200
MAX_PATTERN_LENGTH = 128
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# The characters an interaction name may hold (ingest refuses any other), so a name pattern outside them never matches.
_NAME_CORE = re.compile(r"^[A-Za-z0-9_.:-]+$")
DEFAULT_SUPPORT_STAGES = ("support",)
DEFAULT_TERMINAL_STAGES = ("churned",)
DEFAULT_STEADY_STAGES = ("usage",)
_MAP_FIELDS = ("version", "stages", "rules", "support_stages", "terminal_stages", "steady_stages")
_RULE_FIELDS = ("stage", "names", "touchpoints")


@dataclass(frozen=True, slots=True)
class StageRule:
    """The interaction names and touchpoints that put a customer in one stage."""

    stage: str
    names: tuple[str, ...] = ()
    touchpoints: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StageMap:
    """A versioned set of stages, the rules that map steps to them, and the stages' roles."""

    version: int
    stages: tuple[str, ...]
    rules: tuple[StageRule, ...]
    support_stages: tuple[str, ...] = DEFAULT_SUPPORT_STAGES
    terminal_stages: tuple[str, ...] = DEFAULT_TERMINAL_STAGES
    steady_stages: tuple[str, ...] = DEFAULT_STEADY_STAGES

    def __hash__(self) -> int:
        # Equal maps have equal versions; hashing every rule on each cached lookup cost more than the lookup.
        return hash(self.version)


DEFAULT_STAGE_MAP = StageMap(
    version=1,
    stages=DEFAULT_STAGES,
    rules=(
        StageRule(
            "churned",
            names=("subscription_cancelled", "account_closed", "churned"),
            touchpoints=("cancellation", "cancel"),
        ),
        StageRule(
            "awareness",
            names=("page_viewed", "ad_clicked", "email_opened", "content_viewed"),
            touchpoints=("website", "ad", "ads", "social", "blog", "landing_page"),
        ),
        StageRule(
            "consideration",
            names=("pricing_viewed", "demo_requested", "trial_started", "quote_requested"),
            touchpoints=("pricing", "demo", "trial"),
        ),
        StageRule(
            "purchase",
            names=("checkout_started", "order_placed", "purchase_completed", "subscription_started", "cart_*"),
            touchpoints=("checkout", "cart", "purchase", "order", "delivery", "shipping"),
        ),
        StageRule(
            "onboarding",
            names=("signup_completed", "onboarding_*", "account_activated"),
            touchpoints=("signup", "onboarding", "setup"),
        ),
        StageRule(
            "usage",
            names=("login", "logged_in", "feature_used", "session_started"),
            touchpoints=("app", "product", "dashboard", "mobile_app"),
        ),
        StageRule(
            "support",
            names=("ticket_*", "conversation_*", "call_*", "chat_*"),
            touchpoints=("support", "help", "help_center", "contact_center", "call_center", "chat"),
        ),
        StageRule(
            "billing",
            names=("invoice_*", "payment_*", "refund_*"),
            touchpoints=("billing", "invoice", "payment", "refund"),
        ),
        StageRule(
            "renewal",
            names=("renewal_*", "subscription_renewed", "plan_upgraded"),
            touchpoints=("renewal",),
        ),
        StageRule("churned", names=("*_cancelled",)),
    ),
)


@dataclass(frozen=True, slots=True)
class _Patterns:
    """One rule's patterns, normalised and split by kind for fast matching."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    suffixes: tuple[str, ...]
    infixes: tuple[str, ...]

    def match(self, value: str) -> bool:
        """Whether a normalised value matches any of the patterns."""
        return (
            value in self.exact
            or any(value.startswith(p) for p in self.prefixes)
            or any(value.endswith(s) for s in self.suffixes)
            or any(i in value for i in self.infixes)
        )


def _normalise(value: str) -> str:
    """The form patterns and values are compared in."""
    return value.strip().casefold()


def _compile(patterns: Sequence[str]) -> _Patterns:
    """Split patterns into exact values, prefixes, suffixes and infixes."""
    exact: set[str] = set()
    prefixes: list[str] = []
    suffixes: list[str] = []
    infixes: list[str] = []
    for raw in patterns:
        p = _normalise(raw)
        lead, trail = p.startswith("*"), p.endswith("*")
        core = p.strip("*")
        if lead and trail:
            infixes.append(core)
        elif lead:
            suffixes.append(core)
        elif trail:
            prefixes.append(core)
        else:
            exact.add(p)
    return _Patterns(frozenset(exact), tuple(prefixes), tuple(suffixes), tuple(infixes))


@lru_cache(maxsize=64)
def _compiled(m: StageMap) -> tuple[tuple[str, _Patterns, _Patterns], ...]:
    """Each rule of a map as (stage, name patterns, touchpoint patterns), compiled once per map."""
    return tuple((r.stage, _compile(r.names), _compile(r.touchpoints)) for r in m.rules)


@lru_cache(maxsize=4096)
def stage_of(m: StageMap, *, kind: str, name: str | None, touchpoint: str | None) -> str | None:
    """The stage a step puts the customer in, or None when it does not move them (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown step kind {kind!r}; expected one of {', '.join(KINDS)}")
    rules = _compiled(m)
    if kind == "interaction" and name is not None and name.strip():
        value = _normalise(name)
        for stage, names, _ in rules:
            if names.match(value):
                return stage
    if touchpoint is not None and touchpoint.strip():
        value = _normalise(touchpoint)
        for stage, _, touchpoints in rules:
            if touchpoints.match(value):
                return stage
    return None


# What happens to a ticket or conversation after the customer reached out (its updates, an agent's comment, a new
# message inside the same conversation) is not the customer reaching out again.
LIFECYCLE_SUFFIXES = (
    "_solved", "_closed", "_resolved", "_updated", "_assigned", "_status_changed", "_priority_changed", "_rated",
    "_ended", "_comment_added", "message_received",
)  # fmt: skip


def is_support_contact(m: StageMap, stage: str | None, kind: str, name: str | None = None) -> bool:
    """Whether a step is a support contact: an interaction in a support stage that is not a ticket's lifecycle."""
    if kind != "interaction" or stage is None or stage not in m.support_stages:
        return False
    return name is None or not name.lower().endswith(LIFECYCLE_SUFFIXES)


def stage_map_to_dict(m: StageMap) -> dict[str, Any]:
    """The map as plain JSON-ready data, which `parse_stage_map` reads back."""
    return {
        "version": m.version,
        "stages": list(m.stages),
        "rules": [{"stage": r.stage, "names": list(r.names), "touchpoints": list(r.touchpoints)} for r in m.rules],
        "support_stages": list(m.support_stages),
        "terminal_stages": list(m.terminal_stages),
        "steady_stages": list(m.steady_stages),
    }


def parse_stage_map(data: Mapping[str, Any], version: int) -> StageMap:
    """A stage map from plain data, as version `version`; ValueError says what is wrong.

    `data` holds `stages` (names in journey order), `rules` (`{stage, names, touchpoints}`) and optionally
    `support_stages`, `terminal_stages` and `steady_stages` (when absent, the defaults among the map's stages).
    A `version` field in `data` is ignored: the argument decides, since the service numbers the versions it stores.
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    if not isinstance(data, Mapping):
        raise ValueError("a stage map must be an object with stages and rules")
    unknown = sorted(str(k) for k in data if k not in _MAP_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) in the stage map: {', '.join(unknown)}; expected {', '.join(_MAP_FIELDS)}")
    stages = _parse_stages(data.get("stages"))
    rules = _parse_rules(data.get("rules"), stages)
    roles: dict[str, tuple[str, ...]] = {}
    for role, default in (
        ("support_stages", DEFAULT_SUPPORT_STAGES),
        ("terminal_stages", DEFAULT_TERMINAL_STAGES),
        ("steady_stages", DEFAULT_STEADY_STAGES),
    ):
        if data.get(role) is None:
            roles[role] = tuple(s for s in default if s in stages)
        else:
            roles[role] = _parse_role(role, data[role], stages)
    for role in ("support_stages", "steady_stages"):
        both = [s for s in roles["terminal_stages"] if s in roles[role]]
        if both:
            raise ValueError(f"stage {both[0]!r} cannot be both terminal and in {role}")
    return StageMap(version=version, stages=stages, rules=rules, **roles)


def _string_list(value: Any, what: str) -> list[str]:
    """A list of strings, or ValueError naming `what`."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError(f"{what} must be a list of strings")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{what} must be a list of strings, got {item!r}")
    return items


def _parse_stages(value: Any) -> tuple[str, ...]:
    """The stage names: a non-empty list of distinct lower-case identifiers."""
    if value is None:
        raise ValueError("a stage map needs stages: a list of stage names in journey order")
    stages = _string_list(value, "stages")
    if not stages:
        raise ValueError("stages must not be empty")
    if len(stages) > MAX_STAGES:
        raise ValueError(f"a stage map holds at most {MAX_STAGES} stages, got {len(stages)}")
    seen: set[str] = set()
    for s in stages:
        if not _STAGE_NAME.match(s):
            raise ValueError(
                f"stage name {s!r} must start with a lower-case letter and hold only a-z, 0-9 and _ (at most 64)"
            )
        if s in seen:
            raise ValueError(f"stage {s!r} is listed twice")
        seen.add(s)
    return tuple(stages)


def _parse_rules(value: Any, stages: tuple[str, ...]) -> tuple[StageRule, ...]:
    """The rules, each naming a known stage and at least one valid pattern."""
    if value is None:
        raise ValueError("a stage map needs rules: a list of {stage, names, touchpoints}")
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ValueError("rules must be a list of {stage, names, touchpoints}")
    if not value:
        raise ValueError("rules must not be empty: without rules no step has a stage")
    if len(value) > MAX_RULES:
        raise ValueError(f"a stage map holds at most {MAX_RULES} rules, got {len(value)}")
    rules: list[StageRule] = []
    for i, raw in enumerate(value, start=1):
        if not isinstance(raw, Mapping):
            raise ValueError(f"rule {i} must be an object with stage, names and touchpoints")
        unknown = sorted(str(k) for k in raw if k not in _RULE_FIELDS)
        if unknown:
            raise ValueError(f"rule {i} has unknown field(s) {', '.join(unknown)}; expected {', '.join(_RULE_FIELDS)}")
        stage = raw.get("stage")
        if not isinstance(stage, str):
            raise ValueError(f"rule {i} needs a stage")
        if stage not in stages:
            raise ValueError(f"rule {i} maps to unknown stage {stage!r}; stages are {', '.join(stages)}")
        names = _string_list(raw.get("names", []), f"rule {i} names")
        touchpoints = _string_list(raw.get("touchpoints", []), f"rule {i} touchpoints")
        if not names and not touchpoints:
            raise ValueError(f"rule {i} ({stage}) has neither names nor touchpoints")
        if len(names) + len(touchpoints) > MAX_PATTERNS:
            raise ValueError(f"rule {i} ({stage}) holds more than {MAX_PATTERNS} patterns")
        for n in names:
            _check_pattern(n, f"rule {i} ({stage}) name", interaction_name=True)
        for t in touchpoints:
            _check_pattern(t, f"rule {i} ({stage}) touchpoint", interaction_name=False)
        rules.append(StageRule(stage=stage, names=tuple(names), touchpoints=tuple(touchpoints)))
    return tuple(rules)


def _check_pattern(pattern: str, what: str, *, interaction_name: bool) -> None:
    """Refuse a pattern that is empty, has a `*` inside, or can never match."""
    if not pattern.strip():
        raise ValueError(f"{what} must not be empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"{what} {pattern[:20]!r}… is longer than {MAX_PATTERN_LENGTH} characters")
    if pattern != pattern.strip():
        raise ValueError(f"{what} {pattern!r} has leading or trailing spaces")
    core = pattern.removeprefix("*").removesuffix("*")
    if not core:
        raise ValueError(f"{what} {pattern!r} needs text besides '*': a pattern matching everything is not allowed")
    if "*" in core:
        raise ValueError(f"{what} {pattern!r} may hold '*' only as its first or last character")
    if core != core.strip():
        raise ValueError(f"{what} {pattern!r} has spaces next to '*'")
    if interaction_name and not _NAME_CORE.match(core):
        raise ValueError(f"{what} {pattern!r} can never match: interaction names hold only A-Z, a-z, 0-9 and _ . : -")


def _parse_role(role: str, value: Any, stages: tuple[str, ...]) -> tuple[str, ...]:
    """A role's stages: distinct known stages."""
    items = _string_list(value, role)
    seen: set[str] = set()
    for s in items:
        if s not in stages:
            raise ValueError(f"{role} names unknown stage {s!r}; stages are {', '.join(stages)}")
        if s in seen:
            raise ValueError(f"{role} lists stage {s!r} twice")
        seen.add(s)
    return tuple(items)
