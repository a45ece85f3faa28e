"""Topic taxonomies: the default CX taxonomy, and parsing/serialising a tenant's own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_TOPICS = 64
MAX_KEYWORDS = 50
MAX_EXAMPLES = 20
MAX_FIELD_CHARS = 500
_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Topic:
    """One topic: a stable snake_case id, a display name, a description, keywords and example sentences."""

    id: str
    name: str
    description: str
    keywords: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    """A versioned set of topics that feedback is tagged with."""

    version: int
    topics: tuple[Topic, ...]

    def topic(self, topic_id: str) -> Topic | None:
        """The topic with this id, if any."""
        return next((t for t in self.topics if t.id == topic_id), None)


def _topic(tid: str, name: str, description: str, keywords: str, examples: list[str]) -> Topic:
    """Build a default topic from a '|'-separated keyword string."""
    return Topic(tid, name, description, tuple(k.strip() for k in keywords.split("|")), tuple(examples))


DEFAULT_TAXONOMY = Taxonomy(
    version=1,
    topics=(
        _topic(
            "billing",
            "Billing & payments",
            "Charges, invoices, payments, bookings and transactions that went wrong or are unclear.",
            "bill|billing|billed|charge|charged|charges|invoice|payment|paid|pay|card|transaction|fee|fees|booking"
            "|booked|reservation|receipt|overcharged|double charged|credit card|debit",
            [
                "I was charged twice for the same order",
                "My invoice shows a fee I never agreed to",
                "The payment went through but my booking was not confirmed",
                "Why is there an extra charge on my statement?",
            ],
        ),
        _topic(
            "login_access",
            "Login & account access",
            "Signing in, passwords, locked or hacked accounts, verification codes.",
            "login|log in|sign in|signin|password|locked out|account locked|2fa|verification code|reset password"
            "|hacked|can't access|cannot access|username",
            [
                "I can't log in to my account",
                "The password reset email never arrives",
                "My account got locked after the update",
                "The verification code is not working",
            ],
        ),
        _topic(
            "wait_time",
            "Waiting & delays",
            "Delays, long waits, hold times, late arrivals and slow responses.",
            "wait|waiting|waited|delay|delayed|delays|late|hold|on hold|hours|slow|queue|line|still no|took forever"
            "|minutes|behind schedule",
            [
                "I have been on hold for over an hour",
                "We waited three hours and nobody told us anything",
                "The service was delayed again today",
                "Still waiting for someone to get back to me",
            ],
        ),
        _topic(
            "staff_attitude",
            "Staff & customer service",
            "How staff and agents behaved: rude, helpful, friendly, unprofessional; customer service quality.",
            "staff|agent|rude|employee|crew|attendant|customer service|representative|rep|manager|friendly|helpful"
            "|unprofessional|attitude|service desk|support team|gate agent",
            [
                "The agent was rude and hung up on me",
                "Your staff were friendly and went out of their way to help",
                "Customer service was useless",
                "The employee at the desk was very unprofessional",
            ],
        ),
        _topic(
            "delivery",
            "Delivery, shipping & luggage",
            "Parcels, shipping, lost or damaged items and baggage, deliveries that are late or missing.",
            "delivery|delivered|shipping|shipped|package|parcel|courier|tracking|arrived|lost|luggage|baggage|bag"
            "|bags|suitcase|damaged|missing|left behind",
            [
                "My package never arrived",
                "The parcel was damaged when it was delivered",
                "My luggage was lost and nobody can tell me where it is",
                "Tracking has not updated in a week",
            ],
        ),
        _topic(
            "product_quality",
            "Product & service quality",
            "Quality of the product or service itself: broken, poor, great, comfortable, clean, tasty.",
            "quality|broken|defective|works|cheap|poor|great product|seat|seats|food|clean|dirty|comfortable|broke"
            "|faulty|experience|flight",
            [
                "The product broke after two days",
                "Seats were dirty and uncomfortable",
                "The quality is much worse than before",
                "Great product, works exactly as described",
            ],
        ),
        _topic(
            "pricing",
            "Pricing & value",
            "Prices, costs, value for money, discounts, price increases.",
            "price|prices|pricing|expensive|cheap|cost|costs|overpriced|value|discount|deal|fare|fares|money|$"
            "|price increase|afford",
            [
                "Way too expensive for what you get",
                "The price went up again without notice",
                "Good value for money",
                "Fares are much higher than your competitors",
            ],
        ),
        _topic(
            "onboarding",
            "Onboarding & setup",
            "Getting started: sign-up, setup, installation, first use, activation, tutorials.",
            "sign up|signup|register|registration|setup|set up|install|installation|onboarding|getting started"
            "|activate|activation|tutorial|new account|first time",
            [
                "Setting up the account was confusing",
                "The registration form keeps failing",
                "Onboarding was quick and easy",
                "I could not activate my new card",
            ],
        ),
        _topic(
            "communication",
            "Communication & information",
            "Being informed: updates, notifications, unanswered emails, unclear or wrong information.",
            "email|emails|notification|notified|update|updates|inform|information|no response|reply|respond"
            "|responded|call back|message|dm|told|communication|answer|contact",
            [
                "Nobody told us what was going on",
                "I sent three emails and got no reply",
                "Please keep customers updated",
                "The information on the website was wrong",
            ],
        ),
        _topic(
            "cancellation",
            "Cancellations",
            "Cancelled orders, flights, appointments or subscriptions, and cancelling a service.",
            "cancel|cancelled|canceled|cancellation|cancelling|canceling|terminate|unsubscribe|end my subscription",
            [
                "My flight was cancelled without any notice",
                "They cancelled my order for no reason",
                "How do I cancel my subscription?",
                "The appointment was cancelled at the last minute",
            ],
        ),
        _topic(
            "refunds",
            "Refunds & compensation",
            "Getting money back: refunds, reimbursements, vouchers, compensation.",
            "refund|refunds|refunded|reimburse|reimbursement|money back|compensation|voucher|credit back|chargeback",
            [
                "I am still waiting for my refund",
                "I want my money back",
                "They refused to refund me",
                "What compensation will I get for this?",
            ],
        ),
        _topic(
            "technical_issue",
            "Technical problems",
            "Apps, websites and systems that crash, error or don't work.",
            "app|website|site|crash|crashes|crashed|error|bug|glitch|down|not working|doesn't work|won't load"
            "|online|system|wifi|wi-fi|page|outage|offline",
            [
                "The app keeps crashing when I open it",
                "Your website shows an error at checkout",
                "The system is down again",
                "Wifi on board did not work",
            ],
        ),
        _topic(
            "rebooking_changes",
            "Changes & rebooking",
            "Changing, rescheduling or rebooking an order, flight or appointment.",
            "rebook|rebooked|rebooking|reschedule|change my|change flight|change order|modify|switch|reissue"
            "|standby|new flight|connection|missed connection",
            [
                "I need to rebook my flight",
                "Can I change the date of my order?",
                "They rebooked me on a flight two days later",
                "I missed my connection and need a new flight",
            ],
        ),
        _topic(
            "praise_loyalty",
            "Praise & loyalty",
            "Thanks, compliments and loyalty towards the company.",
            "thank|thanks|thank you|love|awesome|amazing|best|great job|appreciate|loyal|kudos|excellent|fantastic",
            [
                "Thank you for the amazing service",
                "Best company I have ever dealt with",
                "Love flying with you guys",
                "I really appreciate your help today",
            ],
        ),
    ),
)


def _string(value: Any, field: str, where: str, *, required: bool = True) -> str:
    """Validate a string field, returning it stripped."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{where}: '{field}' must be a string")
    value = value.strip()
    if required and not value:
        raise ValueError(f"{where}: '{field}' must not be empty")
    if len(value) > MAX_FIELD_CHARS:
        raise ValueError(f"{where}: '{field}' is longer than {MAX_FIELD_CHARS} characters")
    return value


def _strings(value: Any, field: str, where: str, limit: int) -> tuple[str, ...]:
    """Validate a list of non-empty strings."""
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValueError(f"{where}: '{field}' must be a list of strings")
    if len(value) > limit:
        raise ValueError(f"{where}: '{field}' has {len(value)} entries, at most {limit} are allowed")
    return tuple(_string(v, f"{field}[{i}]", where) for i, v in enumerate(value))


def parse_taxonomy(data: Mapping[str, Any], version: int) -> Taxonomy:
    """Parse {"topics": [{id, name, description?, keywords?, examples?}, ...]}, raising ValueError on bad input."""
    if not isinstance(data, Mapping):
        raise ValueError("taxonomy must be an object with a 'topics' list")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError("taxonomy version must be a positive integer")
    topics = data.get("topics")
    if not isinstance(topics, list):
        raise ValueError("taxonomy must have a 'topics' list")
    if not topics:
        raise ValueError("taxonomy must have at least one topic")
    if len(topics) > MAX_TOPICS:
        raise ValueError(f"taxonomy has {len(topics)} topics, at most {MAX_TOPICS} are allowed")
    parsed: list[Topic] = []
    seen: set[str] = set()
    for index, raw in enumerate(topics):
        where = f"topics[{index}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: each topic must be an object")
        tid = _string(raw.get("id"), "id", where)
        if not _TOPIC_ID.match(tid):
            raise ValueError(f"{where}: id '{tid}' must be snake_case (a-z, 0-9, _), starting with a letter")
        if tid in seen:
            raise ValueError(f"{where}: duplicate topic id '{tid}'")
        seen.add(tid)
        name = _string(raw.get("name"), "name", where)
        description = _string(raw.get("description"), "description", where, required=False)
        keywords = tuple(k.lower() for k in _strings(raw.get("keywords"), "keywords", where, MAX_KEYWORDS))
        examples = _strings(raw.get("examples"), "examples", where, MAX_EXAMPLES)
        parsed.append(Topic(tid, name, description, keywords, examples))
    return Taxonomy(version=version, topics=tuple(parsed))


def taxonomy_to_dict(t: Taxonomy) -> dict[str, Any]:
    """Serialise a taxonomy to the JSON shape parse_taxonomy reads (plus its version)."""
    return {
        "version": t.version,
        "topics": [
            {
                "id": topic.id,
                "name": topic.name,
                "description": topic.description,
                "keywords": list(topic.keywords),
                "examples": list(topic.examples),
            }
            for topic in t.topics
        ],
    }
