"""A generated company: customers, their journeys and their feedback, with truths planted for the console to show.

Everything is a pure function of the seed, the size and the anchor time (`now`): the same arguments give the same
company, down to every sentence, so a rerun against the same tenant is absorbed by the API's deduplication.

Planted truths (see `Plan`):
- friction at **onboarding**: a share of customers stall there (abandon, some cancel) and leave detractor feedback;
- a **spike** of "app crashes after the update" (topic `technical_issue`) during one week, shortly before now;
- **billing** double charges, fixed on a past date: negativity about billing drops after it, other themes stay flat;
- recent **detractors** (the automation opens close-loop items for feedback of the last 30 days);
- customers carry a `value`; feedback arrives through several channels and sources, back-dated with `occurred_at`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cxm_cli.demo import texts

SEGMENTS = (("SMB", 0.6, (600, 4_000)), ("Mid-market", 0.3, (5_000, 25_000)), ("Enterprise", 0.1, (30_000, 150_000)))
PLANS = {"SMB": ("Starter", "Growth"), "Mid-market": ("Growth", "Scale"), "Enterprise": ("Scale", "Enterprise")}
REGIONS = ("EMEA", "North America", "APAC", "LATAM")
TEAMS = ("Support EMEA", "Support Americas", "Support APAC")
FIRST = (
    "Ana", "Ben", "Chloé", "Dev", "Elif", "Femi", "Grace", "Hugo", "Ines", "Jamal", "Kaito", "Lena", "Mateo", "Nadia",
    "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Aiko",
    "Bruno", "Carmen", "Dmitri", "Esther", "Farid", "Gwen", "Hana", "Ivan", "Julia", "Kofi", "Laila", "Marta", "Nils",
)  # fmt: skip
LAST = (
    "Adams", "Baker", "Costa", "Dubois", "Evans", "Fischer", "García", "Hansen", "Ito", "Jensen", "Kowalski", "Lopez",
    "Müller", "Nakamura", "Okafor", "Patel", "Quispe", "Rossi", "Silva", "Tanaka", "Usman", "Varga", "Weber", "Xu",
    "Yilmaz", "Zhang", "Andersen", "Bianchi", "Chen", "Diallo",
)  # fmt: skip

EXISTING_SHARE = 0.45  # customers who joined before the period
RENEWAL_DAYS = 90
STALL_SHARE = 0.4  # customers who never get past onboarding
STALLED_CANCEL_SHARE = 0.35
CHURN_SHARE = 0.07  # activated customers who cancel later
SPIKE_DAYS = 7
SPIKE_ENDS_DAYS_AGO = 9
FIX_DAYS_AGO = 60
SMS_HOURS = 10  # feedback of the last hours arrives by SMS (Twilio stamps messages with their arrival)


@dataclass(frozen=True)
class Customer:
    """A customer of the company: the tenant's own key, contact details, attributes and what becomes of them."""

    key: str
    name: str
    email: str
    phone: str
    segment: str
    plan: str
    region: str
    team: str
    value: float
    joined: datetime
    fate: str  # active | stalled | churned

    def attributes(self) -> dict[str, Any]:
        """The body of `PUT /v1/customers/{key}`."""
        return {
            "name": self.name, "email": self.email, "phone": self.phone, "segment": self.segment, "plan": self.plan,
            "region": self.region, "team": self.team, "value": self.value,
        }  # fmt: skip


@dataclass(frozen=True)
class Interaction:
    """A journey signal, sent through `POST /v1/interactions/batch`."""

    ref: str
    customer: str
    name: str
    channel: str
    at: datetime

    def body(self) -> dict[str, Any]:
        """The API record."""
        return {
            "customer_id": self.customer, "name": self.name, "channel": self.channel, "source": "demo",
            "external_id": self.ref, "occurred_at": self.at.isoformat(),
        }  # fmt: skip


@dataclass(frozen=True)
class Feedback:
    """One piece of feedback and the source that delivers it (`api`, `typeform`, `zendesk`, `delighted`, …)."""

    ref: str
    customer: str
    at: datetime
    source: str
    channel: str
    theme: str
    polarity: str
    text: str | None
    nps: int | None = None
    csat: int | None = None
    ces: int | None = None
    touchpoint: str | None = None

    def body(self) -> dict[str, Any]:
        """The record for `POST /v1/feedback/batch` (API-sourced feedback only)."""
        scores = {k: v for k, v in (("nps", self.nps), ("csat", self.csat), ("ces", self.ces)) if v is not None}
        record: dict[str, Any] = {
            "channel": self.channel, "source": "demo", "external_id": self.ref, "customer": {"id": self.customer},
            "text": self.text, "scores": scores, "occurred_at": self.at.isoformat(),
            "metadata": {"demo_theme": self.theme},
        }  # fmt: skip
        if self.touchpoint:
            record["touchpoint"] = self.touchpoint
        return record


@dataclass(frozen=True)
class Plan:
    """What was planted, for the summary and for the tests that look for it."""

    start: datetime
    now: datetime
    friction_stage: str
    spike_topic: str
    spike_from: datetime
    spike_to: datetime
    fixed_topic: str
    fixed_at: datetime


@dataclass
class Company:
    """The generated company."""

    customers: list[Customer]
    interactions: list[Interaction]
    feedback: list[Feedback]
    plan: Plan
    counts: dict[str, int] = field(default_factory=dict)

    def timeline(self) -> Iterator[tuple[datetime, Interaction | Feedback]]:
        """Every interaction and feedback in time order (ties broken by reference, so the order is stable)."""
        events: list[tuple[datetime, str, Interaction | Feedback]] = [(i.at, i.ref, i) for i in self.interactions]
        events.extend((f.at, f.ref, f) for f in self.feedback)
        events.sort(key=lambda e: (e[0], e[1]))
        for at, _, event in events:
            yield at, event


def generate(*, customers: int = 2000, days: int = 120, seed: int = 7, now: datetime | None = None) -> Company:
    """The company of this seed: `customers` customers joining over `days` days up to `now`."""
    if customers < 1 or days < 14:
        raise ValueError("at least one customer and 14 days")
    anchor = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = anchor - timedelta(days=days)
    spike_to = anchor - timedelta(days=min(SPIKE_ENDS_DAYS_AGO, days // 4))
    plan = Plan(
        start=start,
        now=anchor,
        friction_stage="onboarding",
        spike_topic="technical_issue",
        spike_from=spike_to - timedelta(days=SPIKE_DAYS),
        spike_to=spike_to,
        fixed_topic="billing",
        fixed_at=anchor - timedelta(days=min(FIX_DAYS_AGO, days // 2)),
    )
    builder = _Builder(random.Random(seed), plan, seed)
    for n in range(customers):
        builder.customer(n)
    builder.spike_extra(customers)
    company = Company(builder.customers, builder.interactions, builder.feedback, plan)
    company.counts = {
        "customers": len(company.customers),
        "interactions": len(company.interactions),
        "feedback": len(company.feedback),
        **{f"feedback_{s}": sum(1 for f in company.feedback if f.source == s) for s in sorted(SOURCES)},
    }
    return company


SOURCES = ("api", "typeform", "zendesk", "delighted", "intercom", "twilio")


class _Builder:
    """Accumulates the company customer by customer from one random stream."""

    def __init__(self, rng: random.Random, plan: Plan, seed: int) -> None:
        self.rng = rng
        self.plan = plan
        self.prefix = f"demo{seed}"
        self.customers: list[Customer] = []
        self.interactions: list[Interaction] = []
        self.feedback: list[Feedback] = []
        self._n = 0

    # --- people ---------------------------------------------------------------------------------------------------

    def customer(self, n: int) -> None:
        rng, plan = self.rng, self.plan
        segment = _weighted(rng, [(s, w) for s, w, _ in SEGMENTS])
        low, high = next(r for s, _, r in SEGMENTS if s == segment)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        existing = rng.random() < EXISTING_SHARE
        if existing:
            joined = plan.start - _hours(rng, 20 * 24, 400 * 24)
            fate = "churned" if rng.random() < CHURN_SHARE else "active"
        else:
            span = (plan.now - plan.start).total_seconds() - 6 * 86400
            joined = plan.start + timedelta(seconds=rng.random() * span)
            roll = rng.random()
            fate = "stalled" if roll < STALL_SHARE else "churned" if roll < STALL_SHARE + CHURN_SHARE else "active"
        customer = Customer(
            key=f"{self.prefix}-c{n:05d}",
            name=f"{first} {last}",
            email=f"{_ascii(first)}.{_ascii(last)}.{n}@example.com".lower(),
            phone=f"+1555{n:07d}",
            segment=segment,
            plan=rng.choice(PLANS[segment]),
            region=rng.choice(REGIONS),
            team=rng.choice(TEAMS),
            value=float(round(rng.uniform(low, high), -1)),
            joined=joined,
            fate=fate,
        )
        self.customers.append(customer)
        self.journey(customer)

    def journey(self, c: Customer) -> None:
        rng = self.rng
        t = c.joined
        if t < self.plan.start:  # a customer from before the period: only their use of the product is seen
            self.usage(c, t)
            return
        self.step(c, "page_viewed", "web", t)
        if rng.random() < 0.5:
            t = self.step(c, "content_viewed", "web", t + _hours(rng, 1, 30))
        t = self.step(c, "pricing_viewed", "web", t + _hours(rng, 2, 60))
        if rng.random() < 0.6:
            t = self.step(c, "trial_started", "web", t + _hours(rng, 1, 24))
        t = self.step(c, "checkout_started", "web", t + _hours(rng, 1, 72))
        t = self.step(c, "subscription_started", "web", t + _hours(rng, 0.1, 1))
        t = self.step(c, "signup_completed", "web", t + _hours(rng, 0.1, 2))
        for _ in range(rng.randint(1, 2)):
            t = self.step(c, "onboarding_step_completed", "in_app", t + _hours(rng, 1, 30))
        if c.fate == "stalled":
            self.onboarding_feedback(c, t + _hours(rng, 12, 96), stalled=True)
            if rng.random() < STALLED_CANCEL_SHARE:
                self.step(c, "subscription_cancelled", "web", t + _hours(rng, 8 * 24, 20 * 24))
            return
        t = self.step(c, "account_activated", "in_app", t + _hours(rng, 2, 48))
        if rng.random() < 0.3:
            self.onboarding_feedback(c, t + _hours(rng, 2, 48), stalled=False)
        self.usage(c, t)

    def usage(self, c: Customer, activated: datetime) -> None:
        rng, plan = self.rng, self.plan
        end = plan.now
        if c.fate == "churned":
            end = min(end, activated + _hours(rng, 20 * 24, 90 * 24))
        t = activated
        next_invoice = activated + timedelta(days=30)
        next_survey = activated + _hours(rng, 10 * 24, 40 * 24)
        next_ticket = activated + _hours(rng, 5 * 24, 60 * 24)
        while True:
            t += _hours(rng, 6 * 24, 22 * 24)
            if t >= end:
                break
            self.step(c, rng.choice(("login", "login", "feature_used")), "in_app", t)
            if plan.spike_from <= t < plan.spike_to and rng.random() < 0.4:
                self.say(c, t + _hours(rng, 0.1, 3), "api", "in_app", "app_crash", "neg", touchpoint="app")
            elif rng.random() < 0.04:
                theme = rng.choice(("app_crash", "technical", "technical", "login"))
                self.say(c, t + _hours(rng, 0.1, 3), "api", "in_app", theme, "neg", touchpoint="app")
            if t >= next_invoice:
                self.billing(c, next_invoice)
                next_invoice += timedelta(days=30)
            if t >= next_survey:
                self.relationship_survey(c, t + _hours(rng, 1, 20))
                next_survey = t + _hours(rng, 30 * 24, 60 * 24)
            if t >= next_ticket:
                self.support_episode(c, t + _hours(rng, 1, 10))
                next_ticket = t + _hours(rng, 25 * 24, 80 * 24)
        renewal = c.joined + timedelta(days=RENEWAL_DAYS)
        while renewal < end:
            if renewal >= plan.start and rng.random() < 0.8:
                self.step(c, "subscription_renewed", "email", renewal)
                self.step(c, "login", "in_app", renewal + _hours(rng, 2, 72))
            renewal += timedelta(days=RENEWAL_DAYS)
        if c.fate == "churned" and end < plan.now:
            self.say(c, end - _hours(rng, 1, 48), "api", "email", rng.choice(("pricing", "product", "wait_time")),
                     "neg", churn=True)  # fmt: skip
            self.step(c, "subscription_cancelled", "web", end)

    # --- occasions --------------------------------------------------------------------------------------------------

    def onboarding_feedback(self, c: Customer, at: datetime, *, stalled: bool) -> None:
        rng = self.rng
        if at >= self.plan.now or (stalled and rng.random() > 0.9):
            return
        polarity = "neg" if stalled else _weighted(rng, [("pos", 0.5), ("neu", 0.25), ("neg", 0.25)])
        source = "typeform" if rng.random() < 0.6 else "api"
        self.say(c, at, source, "survey" if source == "typeform" else "in_app", "onboarding", polarity,
                 touchpoint="onboarding")  # fmt: skip

    def billing(self, c: Customer, at: datetime) -> None:
        rng, plan = self.rng, self.plan
        self.step(c, "invoice_paid", "email", at)
        if rng.random() > 0.25:
            return
        if at >= plan.fixed_at:
            theme, polarity = rng.choice((("billing_ok", "pos"), ("billing_ok", "neu"), ("billing_error", "pos")))
            if rng.random() < 0.12:
                theme, polarity = "billing_error", "neg"
        else:
            theme, polarity = ("billing_error", "neg") if rng.random() < 0.75 else ("billing_ok", "neu")
        self.say(c, at + _hours(rng, 1, 48), "api", "email", theme, polarity, touchpoint="billing")

    def relationship_survey(self, c: Customer, at: datetime) -> None:
        rng, plan = self.rng, self.plan
        theme, polarity = _weighted(
            rng,
            [
                (("product", "pos"), 0.42), (("product", "neu"), 0.08), (("staff", "pos"), 0.1),
                (("pricing", "neg"), 0.1), (("pricing", "neu"), 0.06), (("technical", "neg"), 0.05),
                (("communication", "neg"), 0.04), (("login", "neg"), 0.03), (("product", "neg"), 0.03),
                (("communication", "pos"), 0.05), (("wait_time", "neg"), 0.03), (("pricing", "pos"), 0.03),
            ],
        )  # fmt: skip
        if at >= plan.now - timedelta(hours=SMS_HOURS):
            source, channel = "twilio", "sms"
        else:
            source, channel = ("delighted", "survey") if rng.random() < 0.7 else ("api", "email")
        self.say(c, at, source, channel, theme, polarity)

    def support_episode(self, c: Customer, at: datetime) -> None:
        rng = self.rng
        chat = rng.random() < 0.4
        opened = "chat_started" if chat else "ticket_opened"
        self.step(c, opened, "chat" if chat else "ticket", at)
        solved_at = at + _hours(rng, 1, 4 * 24)
        repeat = rng.random() < 0.15
        if repeat:
            self.step(c, opened, "chat" if chat else "ticket", at + _hours(rng, 24, 5 * 24))
        self.step(c, "ticket_solved" if not chat else "chat_closed", "chat" if chat else "ticket", solved_at)
        self.step(c, "login", "in_app", solved_at + _hours(rng, 2, 60))  # back to work once it is solved
        if rng.random() > 0.7:
            return
        slow = solved_at - at > timedelta(days=2) or repeat
        if slow:
            theme, polarity = _weighted(rng, [(("wait_time", "neg"), 0.6), (("staff", "neg"), 0.2),
                                               (("staff", "neu"), 0.2)])  # fmt: skip
        else:
            theme, polarity = _weighted(rng, [(("staff", "pos"), 0.6), (("wait_time", "pos"), 0.25),
                                               (("staff", "neu"), 0.15)])  # fmt: skip
        if chat:
            self.say(c, solved_at + _hours(rng, 0.1, 6), "intercom", "chat", theme, polarity)
        else:
            self.say(c, solved_at + _hours(rng, 0.5, 24), "zendesk", "ticket", theme, polarity)

    def spike_extra(self, customers: int) -> None:
        """Besides users who meet the crash while using the app, reports pour in through the support chat."""
        rng, plan = self.rng, self.plan
        candidates = [c for c in self.customers if c.fate != "stalled" and c.joined < plan.spike_from]
        if not candidates:
            return
        for _ in range(max(5, customers // 15)):
            c = rng.choice(candidates)
            at = plan.spike_from + timedelta(seconds=rng.random() * (plan.spike_to - plan.spike_from).total_seconds())
            self.say(c, at, "intercom" if rng.random() < 0.3 else "api", "chat" if rng.random() < 0.3 else "in_app",
                     "app_crash", "neg", touchpoint="app")  # fmt: skip

    # --- records ----------------------------------------------------------------------------------------------------

    def step(self, c: Customer, name: str, channel: str, at: datetime) -> datetime:
        if self.plan.start <= at < self.plan.now:
            self.interactions.append(Interaction(self._ref("i"), c.key, name, channel, at))
        return at

    def say(
        self,
        c: Customer,
        at: datetime,
        source: str,
        channel: str,
        theme: str,
        polarity: str,
        *,
        touchpoint: str | None = None,
        churn: bool = False,
    ) -> None:
        rng, plan = self.rng, self.plan
        if not plan.start <= at < plan.now:
            return
        if source != "twilio" and at >= plan.now - timedelta(hours=SMS_HOURS) and channel in ("survey", "email"):
            source, channel = "twilio", "sms"
        nps, csat, ces = _scores(rng, polarity)
        if churn or (polarity == "neg" and rng.random() < 0.08):
            text: str | None = texts.compose(rng, theme, polarity) + " " + texts.churn_line(rng)
            nps = min(nps, 3)
        elif source == "twilio":
            text = texts.sms(rng, nps)
        elif rng.random() < 0.06 and source in ("delighted", "typeform"):
            text = None  # a score without words
        else:
            extra = None
            if rng.random() < 0.25:
                other = rng.choice(("product", "staff", "pricing", "communication"))
                if other != theme:
                    extra = (other, _weighted(rng, [("pos", 0.55), ("neg", 0.3), ("neu", 0.15)]))
            text = texts.compose(rng, theme, polarity, extra=extra)
        # Which scores each source asks for.
        if source in ("zendesk", "intercom"):
            nps, ces = None, None
            if source == "zendesk":
                csat = 5 if csat >= 4 else 1 if csat <= 2 else rng.choice((1, 5))
        elif source in ("delighted", "twilio"):
            csat, ces = None, None
        elif source == "typeform":
            pass
        elif theme.startswith("billing"):
            nps, ces = None, None
        elif rng.random() < 0.5:
            csat, ces = None, None
        self.feedback.append(
            Feedback(self._ref("f"), c.key, at, source, channel, theme, polarity, text, nps, csat, ces, touchpoint)
        )

    def _ref(self, kind: str) -> str:
        self._n += 1
        return f"{self.prefix}-{kind}{self._n:07d}"


def _scores(rng: random.Random, polarity: str) -> tuple[int, int, int]:
    """NPS (0–10), CSAT (1–5) and CES (1–7, high is easy) that agree with the words."""
    if polarity == "neg":
        return (
            _weighted(rng, [(0, 0.08), (1, 0.08), (2, 0.12), (3, 0.16), (4, 0.16), (5, 0.18), (6, 0.12), (7, 0.1)]),
            _weighted(rng, [(1, 0.45), (2, 0.4), (3, 0.15)]),
            _weighted(rng, [(1, 0.3), (2, 0.35), (3, 0.25), (4, 0.1)]),
        )
    if polarity == "pos":
        return (
            _weighted(rng, [(8, 0.15), (9, 0.4), (10, 0.4), (7, 0.05)]),
            _weighted(rng, [(4, 0.4), (5, 0.6)]),
            _weighted(rng, [(5, 0.3), (6, 0.4), (7, 0.3)]),
        )
    return (
        _weighted(rng, [(6, 0.2), (7, 0.4), (8, 0.3), (9, 0.1)]),
        _weighted(rng, [(3, 0.6), (4, 0.4)]),
        _weighted(rng, [(3, 0.3), (4, 0.4), (5, 0.3)]),
    )


def _weighted(rng: random.Random, options: list[tuple[Any, float]]) -> Any:
    """One option, drawn by weight."""
    total = sum(w for _, w in options)
    roll = rng.random() * total
    for value, weight in options:
        roll -= weight
        if roll < 0:
            return value
    return options[-1][0]


def _hours(rng: random.Random, low: float, high: float) -> timedelta:
    """A random duration between low and high hours."""
    return timedelta(hours=rng.uniform(low, high))


def _ascii(name: str) -> str:
    """A name fit for an email address."""
    return name.translate(str.maketrans("éüíáóñç", "euiaonc"))
