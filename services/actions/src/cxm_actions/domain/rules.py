"""Automation rules: which action items an incoming fact calls for, versioned per tenant.

A rule listens to one kind of fact (`on`) and, when the fact meets its conditions, proposes an item of its kind and
priority, due `sla_hours` after the fact. Facts (`Trigger.data`, as the service passes them):
- detractor_feedback: {feedback_id, nps, csat, channel, topics, intent, sentiment_label, text_excerpt?}
- alert: {alert_id, kind, key (a topic or a metric), severity, evidence}
- churn_risk_high: {score, level, reasons: [{signal, weight, detail}], value}
- friction: {friction_id, kind (stage | transition), key, impact, value_at_stake}

Conditions (all that a rule names must hold; lists match when they share an element with the fact):
- detractor_feedback: max_nps, max_csat (the answer is a detractor when NPS ≤ max_nps or CSAT ≤ max_csat; with
  neither named, NPS ≤ 6 or CSAT ≤ 2), negative (true: a negative sentiment label also counts, for unscored
  feedback), channels, topics, intents;
- alert: alert_kinds, severities, keys;
- churn_risk_high: min_score, min_value, signals;
- friction: min_impact, min_value, friction_kinds, keys.

Titles are sentences built from the fact: the rule's title followed by what was seen ("Follow up with detractor
(NPS 3) about billing"). A title holding placeholders ({nps}, {csat}, {topic}, {topics}, {channel}, {intent},
{kind}, {key}, {severity}, {score}, {level}, {impact}, {value}, {customer_id}) is filled in instead.

Deduplication: the service creates an item only when no open item of the tenant has the proposal's dedupe_key:
- close_loop: `customer:<id>` (one follow-up at a time per customer, whatever rule asked for it); without a
  customer, `feedback:<id>` or `event:<tenant_event_id>`;
- improvement: `alert:<kind>:<key>`, `stage:<key>` or `transition:<key>` (friction), `topic:<first topic>`
  (feedback), `customer:<id>` (churn).
Two proposals of one fact with the same key are merged: the more urgent (then the earlier due, then the first
rule) is kept.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cxm_actions.domain.lifecycle import KINDS, PRIORITIES
from cxm_actions.domain.sla import due_at

TRIGGERS = ("detractor_feedback", "alert", "churn_risk_high", "friction")
DETRACTOR_MAX_NPS = 6
DETRACTOR_MAX_CSAT = 2
MAX_RULES = 100
MAX_TITLE_CHARS = 200
MAX_NAME_CHARS = 80
MAX_LIST_ITEMS = 100
MAX_SLA_HOURS = 24.0 * 366
_RULE_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

# Condition name → (the triggers it applies to, its type: "int", "number", "bool" or "list").
CONDITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "max_nps": (("detractor_feedback",), "int"),
    "max_csat": (("detractor_feedback",), "int"),
    "negative": (("detractor_feedback",), "bool"),
    "channels": (("detractor_feedback",), "list"),
    "topics": (("detractor_feedback",), "list"),
    "intents": (("detractor_feedback",), "list"),
    "alert_kinds": (("alert",), "list"),
    "severities": (("alert",), "list"),
    "keys": (("alert", "friction"), "list"),
    "min_score": (("churn_risk_high",), "number"),
    "min_value": (("churn_risk_high", "friction"), "number"),
    "signals": (("churn_risk_high",), "list"),
    "min_impact": (("friction",), "number"),
    "friction_kinds": (("friction",), "list"),
}


@dataclass(frozen=True)
class Rule:
    """When a fact of kind `on` meets `conditions`, propose an item of `kind` and `priority` due in `sla_hours`."""

    id: str
    on: str
    kind: str
    priority: str
    sla_hours: float | None
    title: str
    team: str | None = None
    owner: str | None = None
    enabled: bool = True
    conditions: dict[str, Any] = field(default_factory=dict)


DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(
        id="detractor_follow_up",
        on="detractor_feedback",
        kind="close_loop",
        priority="high",
        sla_hours=48.0,
        title="Follow up with detractor",
        conditions={"max_nps": DETRACTOR_MAX_NPS, "max_csat": DETRACTOR_MAX_CSAT},
    ),
    Rule(
        id="alert_improvement",
        on="alert",
        kind="improvement",
        priority="medium",
        sla_hours=7 * 24.0,
        title="Investigate",
    ),
    Rule(
        id="churn_retention_outreach",
        on="churn_risk_high",
        kind="close_loop",
        priority="urgent",
        sla_hours=24.0,
        title="Retention outreach",
    ),
    Rule(
        id="friction_improvement",
        on="friction",
        kind="improvement",
        priority="medium",
        sla_hours=14 * 24.0,
        title="Reduce friction",
    ),
)


@dataclass(frozen=True)
class Trigger:
    """A normalised incoming fact: what happened (`on`), its event id in the tenant, when, to whom, and its data."""

    on: str
    tenant_event_id: str
    at: datetime
    customer_id: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Proposal:
    """An action item a rule asks for; the service creates it unless an open item has the same dedupe_key."""

    rule_id: str
    kind: str
    title: str
    description: str
    priority: str
    due_at: datetime | None
    customer_id: str | None
    links: dict[str, str]
    team: str | None
    owner: str | None
    dedupe_key: str


# ---------------------------------------------------------------------------------------------------------------------
# Parsing


def _where(index: int, rule_id: Any, name: str = "") -> str:
    """Where in a rules document a problem is, for error messages."""
    label = f"rules[{index}]" + (f" ({rule_id})" if isinstance(rule_id, str) and rule_id else "")
    return f"{label}.{name}" if name else label


def _text(raw: Any, where: str, *, max_chars: int) -> str:
    """A non-blank, bounded string, stripped."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{where}: must be a non-empty string")
    if len(raw) > max_chars:
        raise ValueError(f"{where}: at most {max_chars} characters")
    return raw.strip()


def _opt_text(raw: Any, where: str, *, max_chars: int) -> str | None:
    """A non-blank, bounded string, or None when absent."""
    return None if raw is None else _text(raw, where, max_chars=max_chars)


def _condition(raw: Any, kind: str, where: str) -> Any:
    """A validated condition value of its kind."""
    if kind == "bool":
        if not isinstance(raw, bool):
            raise ValueError(f"{where}: must be true or false")
        return raw
    if kind == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"{where}: must be an integer")
        return raw
    if kind == "number":
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
            raise ValueError(f"{where}: must be a number")
        return float(raw)
    if not isinstance(raw, list | tuple) or not raw:
        raise ValueError(f"{where}: must be a non-empty list of strings")
    if len(raw) > MAX_LIST_ITEMS:
        raise ValueError(f"{where}: at most {MAX_LIST_ITEMS} items")
    if not all(isinstance(x, str) and x.strip() for x in raw):
        raise ValueError(f"{where}: must be a non-empty list of strings")
    return list(dict.fromkeys(x.strip() for x in raw))


def _conditions(raw: Any, on: str, where: str) -> dict[str, Any]:
    """A rule's validated conditions for its trigger."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be an object")
    out: dict[str, Any] = {}
    for name, value in raw.items():
        spec = CONDITIONS.get(name)
        if spec is None or on not in spec[0]:
            known = sorted(k for k, (ons, _) in CONDITIONS.items() if on in ons)
            raise ValueError(f"{where}.{name}: unknown condition for {on!r} (known: {', '.join(known)})")
        out[name] = _condition(value, spec[1], f"{where}.{name}")
    return out


def _rule(index: int, raw: Any) -> Rule:
    """One validated rule."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"{_where(index, None)}: must be an object")
    rid = raw.get("id")

    def at(name: str) -> str:
        """Where this rule's field `name` is."""
        return _where(index, rid, name)

    known = {"id", "on", "kind", "priority", "sla_hours", "title", "team", "owner", "enabled", "conditions"}
    extra = sorted(set(raw) - known)
    if extra:
        raise ValueError(f"{_where(index, rid)}: unknown field(s) {', '.join(map(str, extra))}")
    if not isinstance(rid, str) or not _RULE_ID.match(rid):
        raise ValueError(f"{at('id')}: must be lowercase letters, digits, '_' or '-', starting with a letter (≤ 64)")
    on = raw.get("on")
    if on not in TRIGGERS:
        raise ValueError(f"{at('on')}: must be one of {', '.join(TRIGGERS)}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{at('kind')}: must be one of {', '.join(KINDS)}")
    priority = raw.get("priority", "medium")
    if priority not in PRIORITIES:
        raise ValueError(f"{at('priority')}: must be one of {', '.join(PRIORITIES)}")
    sla = raw.get("sla_hours")
    if sla is not None and (
        isinstance(sla, bool) or not isinstance(sla, int | float) or not math.isfinite(sla) or sla <= 0
    ):
        raise ValueError(f"{at('sla_hours')}: must be a positive number of hours or null")
    if sla is not None and sla > MAX_SLA_HOURS:
        raise ValueError(f"{at('sla_hours')}: at most {MAX_SLA_HOURS:g} hours")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValueError(f"{at('enabled')}: must be true or false")
    return Rule(
        id=rid,
        on=str(on),
        kind=str(kind),
        priority=str(priority),
        sla_hours=float(sla) if sla is not None else None,
        title=_text(raw.get("title"), at("title"), max_chars=MAX_TITLE_CHARS),
        team=_opt_text(raw.get("team"), at("team"), max_chars=MAX_NAME_CHARS),
        owner=_opt_text(raw.get("owner"), at("owner"), max_chars=MAX_NAME_CHARS),
        enabled=enabled,
        conditions=_conditions(raw.get("conditions"), str(on), at("conditions")),
    )


def parse_rules(data: Any) -> tuple[Rule, ...]:
    """Validate a tenant's rules (a list of rule objects, or {"rules": [...]}); ValueError names where it is wrong."""
    if isinstance(data, Mapping):
        if set(data) - {"rules", "version"}:
            raise ValueError("rules: expected a list of rules or an object with 'rules'")
        data = data.get("rules")
    if not isinstance(data, list | tuple):
        raise ValueError("rules: expected a list of rules")
    if len(data) > MAX_RULES:
        raise ValueError(f"rules: at most {MAX_RULES} rules")
    rules = tuple(_rule(i, raw) for i, raw in enumerate(data))
    seen: set[str] = set()
    for i, rule in enumerate(rules):
        if rule.id in seen:
            raise ValueError(f"{_where(i, rule.id, 'id')}: duplicate rule id")
        seen.add(rule.id)
    return rules


def rules_to_dict(rules: Iterable[Rule]) -> list[dict[str, Any]]:
    """The JSON form of rules, which parse_rules reads back."""
    return [
        {
            "id": r.id,
            "on": r.on,
            "kind": r.kind,
            "priority": r.priority,
            "sla_hours": r.sla_hours,
            "title": r.title,
            "team": r.team,
            "owner": r.owner,
            "enabled": r.enabled,
            "conditions": {k: list(v) if isinstance(v, list | tuple) else v for k, v in r.conditions.items()},
        }
        for r in rules
    ]


# ---------------------------------------------------------------------------------------------------------------------
# Matching


def _int(value: Any) -> int | None:
    """An integer answer, or None (booleans and non-numbers are no answer)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(value)


def _num(value: Any) -> float | None:
    """A finite number, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _strings(value: Any) -> list[str]:
    """A list of strings from a fact (a single string counts as one)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple):
        return [str(x) for x in value if x is not None and str(x)]
    return []


def _signals(data: Mapping[str, Any]) -> list[str]:
    """The churn signals named by a risk's reasons."""
    out: list[str] = []
    for reason in data.get("reasons") or ():
        if isinstance(reason, Mapping) and reason.get("signal"):
            out.append(str(reason["signal"]))
        elif isinstance(reason, str):
            out.append(reason)
    return out


def _overlaps(wanted: Sequence[str], have: Iterable[str]) -> bool:
    """Whether a fact's values share one with a condition's list."""
    return bool(set(wanted) & set(have))


def _at_most(value: Any, bound: Any) -> bool:
    """Whether an answer is present and at most the bound."""
    answer = _int(value)
    return answer is not None and answer <= bound


def _at_least(value: Any, bound: float) -> bool:
    """Whether a number is present and at least the bound."""
    number = _num(value)
    return number is not None and number >= bound


def _detractor(c: Mapping[str, Any], data: Mapping[str, Any]) -> bool:
    """Whether feedback is a detractor under a rule's thresholds."""
    scored = "max_nps" in c or "max_csat" in c
    max_nps = c.get("max_nps", None if scored else DETRACTOR_MAX_NPS)
    max_csat = c.get("max_csat", None if scored else DETRACTOR_MAX_CSAT)
    if max_nps is not None and _at_most(data.get("nps"), max_nps):
        return True
    if max_csat is not None and _at_most(data.get("csat"), max_csat):
        return True
    return bool(c.get("negative")) and str(data.get("sentiment_label") or "") == "negative"


def matches(rule: Rule, trigger: Trigger) -> bool:
    """Whether an enabled rule listens to the trigger's kind and all its conditions hold for the fact."""
    if not rule.enabled or rule.on != trigger.on:
        return False
    c, d = rule.conditions, trigger.data
    if trigger.on == "detractor_feedback":
        checks = [
            _detractor(c, d),
            "channels" not in c or _overlaps(c["channels"], _strings(d.get("channel"))),
            "topics" not in c or _overlaps(c["topics"], _strings(d.get("topics"))),
            "intents" not in c or _overlaps(c["intents"], _strings(d.get("intent"))),
        ]
    elif trigger.on == "alert":
        checks = [
            "alert_kinds" not in c or _overlaps(c["alert_kinds"], _strings(d.get("kind"))),
            "severities" not in c or _overlaps(c["severities"], _strings(d.get("severity"))),
            "keys" not in c or _overlaps(c["keys"], _strings(d.get("key"))),
        ]
    elif trigger.on == "churn_risk_high":
        checks = [
            "min_score" not in c or _at_least(d.get("score"), c["min_score"]),
            "min_value" not in c or _at_least(d.get("value"), c["min_value"]),
            "signals" not in c or _overlaps(c["signals"], _signals(d)),
        ]
    elif trigger.on == "friction":
        checks = [
            "min_impact" not in c or _at_least(d.get("impact"), c["min_impact"]),
            "min_value" not in c or _at_least(d.get("value_at_stake"), c["min_value"]),
            "friction_kinds" not in c or _overlaps(c["friction_kinds"], _strings(d.get("kind"))),
            "keys" not in c or _overlaps(c["keys"], _strings(d.get("key"))),
        ]
    else:
        return False
    return all(checks)


# ---------------------------------------------------------------------------------------------------------------------
# Sentences


def _humanise(name: str) -> str:
    """A snake_case name as words."""
    return name.replace("_", " ").strip()


def _fmt_num(value: Any, digits: int = 2) -> str:
    """A number without needless decimals."""
    number = _num(value)
    if number is None:
        return "?"
    return f"{number:.0f}" if number == int(number) else f"{number:.{digits}f}"


def _money(value: Any) -> str:
    """An amount at stake, rounded for reading."""
    number = _num(value)
    return f"{number:,.0f}" if number is not None else "?"


def _list(items: Sequence[str]) -> str:
    """Words joined as in a sentence: 'a', 'a and b', 'a, b and c'."""
    words = [_humanise(x) for x in items]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _fields(trigger: Trigger) -> dict[str, str]:
    """The placeholders a title may use, as text."""
    d = trigger.data
    topics = _strings(d.get("topics"))
    key = str(d.get("key") or "")
    return {
        "nps": str(_int(d.get("nps"))) if _int(d.get("nps")) is not None else "",
        "csat": str(_int(d.get("csat"))) if _int(d.get("csat")) is not None else "",
        "topic": _humanise(topics[0]) if topics else _humanise(key),
        "topics": _list(topics),
        "channel": str(d.get("channel") or ""),
        "intent": _humanise(str(d.get("intent") or "")),
        "kind": _humanise(str(d.get("kind") or "")),
        "key": _humanise(key),
        "severity": str(d.get("severity") or ""),
        "score": _fmt_num(d.get("score")) if d.get("score") is not None else "",
        "level": str(d.get("level") or ""),
        "impact": _fmt_num(d.get("impact"), 1) if d.get("impact") is not None else "",
        "value": _money(d.get("value") if d.get("value") is not None else d.get("value_at_stake")),
        "customer_id": trigger.customer_id or "",
    }


def _answer(d: Mapping[str, Any]) -> str:
    """The scores a feedback gave, e.g. 'NPS 3' or 'NPS 3, CSAT 2'."""
    parts = []
    if _int(d.get("nps")) is not None:
        parts.append(f"NPS {_int(d.get('nps'))}")
    if _int(d.get("csat")) is not None:
        parts.append(f"CSAT {_int(d.get('csat'))}")
    if not parts and d.get("sentiment_label"):
        parts.append(f"{d['sentiment_label']} sentiment")
    return ", ".join(parts)


def _detail(trigger: Trigger) -> str:
    """What was seen, appended to a rule's title."""
    d = trigger.data
    if trigger.on == "detractor_feedback":
        answer = _answer(d)
        topics = _strings(d.get("topics"))
        return (f" ({answer})" if answer else "") + (f" about {_list(topics)}" if topics else "")
    if trigger.on == "alert":
        kind = _humanise(str(d.get("kind") or "alert"))
        key = _humanise(str(d.get("key") or ""))
        return f": {kind}" + (f" in {key}" if key else "")
    if trigger.on == "churn_risk_high":
        signals = _signals(d)
        score = f"churn risk {_fmt_num(d.get('score'))}" if _num(d.get("score")) is not None else "high churn risk"
        return f" ({score}" + (f": {_list(signals[:3])})" if signals else ")")
    kind = str(d.get("kind") or "stage")
    key = _humanise(str(d.get("key") or ""))
    where = f"the move {key}" if kind == "transition" else f"the {key} stage" if key else "a stage"
    return f" at {where}" + (f" (impact {_fmt_num(d.get('impact'), 1)})" if _num(d.get("impact")) is not None else "")


def title_for(rule: Rule, trigger: Trigger) -> str:
    """A proposal's title: the rule's title filled in, or followed by what was seen."""
    if _PLACEHOLDER.search(rule.title):
        fields = _fields(trigger)
        filled = _PLACEHOLDER.sub(lambda m: fields.get(m.group(1), m.group(0)), rule.title)
        return " ".join(filled.split())[:MAX_TITLE_CHARS]
    return (rule.title + _detail(trigger))[:MAX_TITLE_CHARS]


def description_for(trigger: Trigger) -> str:
    """A proposal's description: the fact in a few sentences."""
    d = trigger.data
    who = f"Customer {trigger.customer_id}" if trigger.customer_id else "A customer"
    if trigger.on == "detractor_feedback":
        answer = _answer(d) or "feedback"
        channel = f" via {d['channel']}" if d.get("channel") else ""
        topics = _strings(d.get("topics"))
        about = f" about {_list(topics)}" if topics else ""
        extras = []
        if d.get("intent"):
            extras.append(f"intent: {_humanise(str(d['intent']))}")
        if d.get("sentiment_label"):
            extras.append(f"sentiment: {d['sentiment_label']}")
        text = f"{who} answered {answer}{channel}{about}" + (f" ({'; '.join(extras)})" if extras else "") + "."
        if d.get("text_excerpt"):
            text += f' They wrote: "{str(d["text_excerpt"]).strip()}"'
        return text
    if trigger.on == "alert":
        kind = _humanise(str(d.get("kind") or "alert"))
        key = _humanise(str(d.get("key") or ""))
        severity = f"{d['severity']} severity " if d.get("severity") else ""
        text = f"Insight raised a {severity}{kind} alert" + (f" for {key}" if key else "") + "."
        evidence = d.get("evidence")
        if isinstance(evidence, Mapping) and evidence.get("observed") is not None:
            text += f" Observed {_fmt_num(evidence.get('observed'))}"
            if evidence.get("expected") is not None:
                text += f" against an expected {_fmt_num(evidence.get('expected'))}"
            text += "."
        return text + " Find the cause and fix it for everyone affected."
    if trigger.on == "churn_risk_high":
        level = str(d.get("level") or "high")
        score = f" ({_fmt_num(d.get('score'))})" if _num(d.get("score")) is not None else ""
        text = f"{who} is at {level} risk of churning{score}."
        details = []
        for reason in d.get("reasons") or ():
            if isinstance(reason, Mapping) and reason.get("signal"):
                detail = f": {reason['detail']}" if reason.get("detail") else ""
                details.append(f"{_humanise(str(reason['signal']))}{detail}")
        if details:
            text += " Signals: " + "; ".join(details) + "."
        if _num(d.get("value")) is not None:
            text += f" Value at risk: {_money(d.get('value'))}."
        return text + " Reach out before they leave."
    kind = str(d.get("kind") or "stage")
    key = _humanise(str(d.get("key") or ""))
    where = f"The move {key}" if kind == "transition" else f"The {key} stage"
    text = f"{where} is a friction point"
    if _num(d.get("impact")) is not None:
        text += f" (impact {_fmt_num(d.get('impact'), 1)} visits gone badly beyond the usual)"
    text += "."
    if _num(d.get("value_at_stake")) is not None:
        text += f" Value at stake: {_money(d.get('value_at_stake'))}."
    return text + " Find what goes wrong there and fix it."


# ---------------------------------------------------------------------------------------------------------------------
# Proposals


def dedupe_key(kind: str, trigger: Trigger) -> str:
    """The key an open item must not share for a proposal of this kind to be created (see the module docstring)."""
    d = trigger.data
    if kind == "close_loop":
        if trigger.customer_id:
            return f"customer:{trigger.customer_id}"
        if d.get("feedback_id"):
            return f"feedback:{d['feedback_id']}"
        return f"event:{trigger.tenant_event_id}"
    if trigger.on == "alert":
        return f"alert:{d.get('kind') or 'alert'}:{d.get('key') or ''}"
    if trigger.on == "friction":
        prefix = "transition" if d.get("kind") == "transition" else "stage"
        return f"{prefix}:{d.get('key') or ''}"
    if trigger.on == "detractor_feedback":
        topics = _strings(d.get("topics"))
        if topics:
            return f"topic:{topics[0]}"
        return f"feedback:{d.get('feedback_id') or trigger.tenant_event_id}"
    if trigger.customer_id:
        return f"customer:{trigger.customer_id}"
    return f"event:{trigger.tenant_event_id}"


def links_for(trigger: Trigger) -> dict[str, str]:
    """What a proposal links to: the feedback, alert or friction point behind it, and the customer."""
    d = trigger.data
    links: dict[str, str] = {}
    for name, key in (("feedback", "feedback_id"), ("alert", "alert_id"), ("friction", "friction_id")):
        if d.get(key):
            links[name] = str(d[key])
    if trigger.customer_id:
        links["customer"] = trigger.customer_id
    links["event"] = trigger.tenant_event_id
    return links


def propose(rules: Iterable[Rule], trigger: Trigger) -> list[Proposal]:
    """The items a fact calls for, one per dedupe key (see the module docstring), in rule order."""
    chosen: dict[str, tuple[int, Proposal]] = {}
    for order, rule in enumerate(rules):
        if not matches(rule, trigger):
            continue
        proposal = Proposal(
            rule_id=rule.id,
            kind=rule.kind,
            title=title_for(rule, trigger),
            description=description_for(trigger),
            priority=rule.priority,
            due_at=due_at(trigger.at, rule.sla_hours),
            customer_id=trigger.customer_id,
            links=links_for(trigger),
            team=rule.team,
            owner=rule.owner,
            dedupe_key=dedupe_key(rule.kind, trigger),
        )
        held = chosen.get(proposal.dedupe_key)
        if held is None or _more_urgent(proposal, held[1]):
            chosen[proposal.dedupe_key] = (held[0] if held else order, proposal)
    return [p for _, p in sorted(chosen.values(), key=lambda pair: pair[0])]


def _more_urgent(a: Proposal, b: Proposal) -> bool:
    """Whether proposal a should replace b for the same key: higher priority, then an earlier due time."""
    rank_a, rank_b = PRIORITIES.index(a.priority), PRIORITIES.index(b.priority)
    if rank_a != rank_b:
        return rank_a > rank_b
    return a.due_at is not None and (b.due_at is None or a.due_at < b.due_at)
