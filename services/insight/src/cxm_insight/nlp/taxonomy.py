"""Topic taxonomies: the default CX taxonomy, and parsing and serialising a tenant's own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_TOPICS = 50
MAX_KEYWORDS = 40
MAX_EXAMPLES = 20
MAX_NAME_CHARS = 80
MAX_TEXT_CHARS = 500
_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


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


def _topic(topic_id: str, name: str, description: str, keywords: str, examples: str) -> Topic:
    """A default topic from '|'-separated keywords and examples."""
    return Topic(
        topic_id,
        name,
        description,
        tuple(k.strip() for k in keywords.split("|") if k.strip()),
        tuple(e.strip() for e in examples.split("|") if e.strip()),
    )


DEFAULT_TAXONOMY = Taxonomy(
    version=1,
    topics=(
        _topic(
            "billing",
            "Billing & payments",
            "Charges, invoices, statements and payments: wrong, double or unexpected charges, failed payments.",
            "bill|billing|billed|invoice|charge|charged|charges|overcharged|double charged|payment|payments|paid"
            "|statement|direct debit|card declined|transaction|receipt",
            "I was charged twice for the same order|My invoice has a fee I never agreed to"
            "|The payment went through but the order shows unpaid|Why is there an extra charge on my statement?",
        ),
        _topic(
            "pricing",
            "Pricing & value",
            "Prices, fees, plans and value for money: too expensive, price rises, hidden fees, discounts.",
            "price|prices|pricing|expensive|cheap|cheaper|overpriced|cost|costs|fee|fees|price increase|discount"
            "|value for money|subscription price|plan",
            "Way too expensive for what you get|The price went up again without notice"
            "|Your competitor is half the price|Is there a discount for students?",
        ),
        _topic(
            "refunds",
            "Refunds & compensation",
            "Getting money back: refund requests, slow or missing refunds, compensation and vouchers.",
            "refund|refunds|refunded|money back|reimburse|reimbursement|compensation|voucher|credit back|chargeback",
            "Still waiting for my refund after three weeks|I want my money back"
            "|Where is the compensation you promised?",
        ),
        _topic(
            "cancellation",
            "Cancellations",
            "Orders, bookings, flights, appointments or services cancelled by the company or by the customer.",
            "cancel|cancelled|canceled|cancellation|cancelling|called off|cancelled flight|cancel my order",
            "You cancelled my flight with no warning|How do I cancel my order?"
            "|The appointment was cancelled at the last minute|They cancelled the event and did not tell us",
        ),
        _topic(
            "booking",
            "Booking & reservations",
            "Making or changing a booking, reservation, ticket or appointment; seats, rebooking and itineraries.",
            "booking|book|booked|reservation|reserve|ticket|tickets|itinerary|seat assignment|seat selection|rebook"
            "|rebooked|appointment|change my flight|confirmation number",
            "I cannot change my booking online|The reservation disappeared from my account"
            "|Rebooking me on a flight three days later is not acceptable|My seat assignment was changed",
        ),
        _topic(
            "wait_time",
            "Waiting & delays",
            "Waiting too long: delays, late arrivals, long queues, hold times and slow responses.",
            "wait|waiting|waited|delay|delayed|delays|late|hours|on hold|hold time|queue|line|slow|still waiting"
            "|took forever|stuck on the tarmac",
            "I waited on hold for an hour|The flight was delayed three hours|Long queue at the counter again"
            "|Still waiting for someone to get back to me",
        ),
        _topic(
            "staff_attitude",
            "Staff & service attitude",
            "How staff and agents treat customers: rude, unhelpful or dismissive, or kind and helpful people.",
            "staff|agent|agents|employee|crew|attendant|rude|unhelpful|helpful|friendly|polite|attitude|manager"
            "|customer service|service rep|representative|gate agent",
            "The agent was rude and hung up on me|The crew were so friendly|The manager refused to help"
            "|Customer service was useless",
        ),
        _topic(
            "communication",
            "Communication",
            "Being kept informed: no updates, no replies, unclear or contradictory information, unanswered calls.",
            "no response|no reply|no answer|no update|no updates|no information|nobody told|email|emails|call back"
            "|callback|informed|notification|contact|reach|dm|message",
            "Nobody told us what was going on|I have emailed three times and got no reply"
            "|Every agent tells me something different|No update on my case for a week",
        ),
        _topic(
            "delivery",
            "Delivery & shipping",
            "Getting goods to the customer: shipping, couriers, tracking, late, lost or wrong deliveries.",
            "delivery|delivered|deliver|shipping|shipped|courier|parcel|package|tracking|dispatch|arrived"
            "|never arrived|wrong item|driver",
            "My parcel never arrived|The courier left the package in the rain|Tracking has not updated in days"
            "|I received the wrong item",
        ),
        _topic(
            "lost_damaged",
            "Lost or damaged items",
            "Belongings or goods lost, damaged or broken in the company's care: luggage, bags, parcels, property.",
            "lost|missing|damaged|broken|bag|bags|baggage|luggage|suitcase|lost luggage|damaged bag|claim"
            "|lost and found|torn|smashed",
            "My luggage was lost on a direct flight|The suitcase came back with a broken handle"
            "|Half the order was missing|The box arrived smashed",
        ),
        _topic(
            "product_quality",
            "Product & service quality",
            "How good the product or the experience itself is: defects, poor quality, comfort, food, cleanliness.",
            "quality|defective|faulty|poor quality|cheap|broke|stopped working|dirty|clean|comfortable|uncomfortable"
            "|food|meal|seat|legroom|wifi|entertainment|experience",
            "The product broke after a week|The cabin was dirty and the seats uncomfortable"
            "|Great quality for the price|The food was cold and tasteless",
        ),
        _topic(
            "technical_issue",
            "Technical issues",
            "Apps, websites and systems failing: errors, crashes, bugs, outages, slow or broken features.",
            "app|website|site|online|error|errors|bug|bugs|crash|crashes|crashed|glitch|outage|is down|was down"
            "|went down|not working|broken link|software update|app update|after the update|system|server",
            "The app crashes every time I open it|The website keeps showing an error at checkout"
            "|Your system is down again|After the update nothing loads",
        ),
        _topic(
            "login_access",
            "Login & account access",
            "Getting into an account: passwords, logins, verification codes, locked or blocked accounts.",
            "login|log in|logged out|sign in|password|reset password|account locked|locked out|two-factor|2fa"
            "|verification code|username|access my account",
            "I cannot log in to my account|The password reset email never arrives|My account is locked"
            "|The verification code does not work",
        ),
        _topic(
            "onboarding",
            "Onboarding & setup",
            "Getting started: sign-up, registration, activation, installation and first-time setup.",
            "sign up|signup|register|registration|onboarding|set up|setup|activate|activation|install|installation"
            "|new customer|getting started|first time",
            "The sign-up form keeps rejecting my address|Setting up the device took hours"
            "|Activation failed on the first day|Onboarding was quick and easy",
        ),
        _topic(
            "loyalty_rewards",
            "Loyalty & rewards",
            "Loyalty programmes, points, miles, status, upgrades, rewards and member benefits.",
            "points|miles|loyalty|rewards|reward|status|member|membership|upgrade|upgraded|frequent flyer|perks"
            "|gold|platinum",
            "My miles were never credited|I lost my status after one year|Thanks for the free upgrade"
            "|The rewards programme is confusing",
        ),
        _topic(
            "privacy_security",
            "Privacy & security",
            "Fraud, hacked accounts, unauthorised transactions, data protection and privacy concerns.",
            "fraud|fraudulent|hacked|scam|phishing|unauthorised|unauthorized|security|privacy|data breach"
            "|personal data|stolen card|identity",
            "Someone hacked my account|There is a transaction I did not make|You leaked my personal data"
            "|I got a phishing email pretending to be you",
        ),
    ),
)


def parse_taxonomy(data: Mapping[str, Any], version: int) -> Taxonomy:
    """Validate a taxonomy definition ({"topics": [{id, name, description, keywords, examples}, ...]}).

    Raises ValueError naming the first problem found.
    """
    if not isinstance(data, Mapping):
        raise ValueError("a taxonomy must be an object with a 'topics' list")
    raw_topics = data.get("topics")
    if not isinstance(raw_topics, list) or not raw_topics:
        raise ValueError("a taxonomy needs a non-empty 'topics' list")
    if len(raw_topics) > MAX_TOPICS:
        raise ValueError(f"too many topics: {len(raw_topics)} (at most {MAX_TOPICS})")
    topics: list[Topic] = []
    seen: set[str] = set()
    for position, raw in enumerate(raw_topics, start=1):
        where = f"topic {position}"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: must be an object")
        topic_id = raw.get("id")
        if not isinstance(topic_id, str) or not _TOPIC_ID.match(topic_id):
            raise ValueError(f"{where}: id must be snake_case (a-z, 0-9, _; starting with a letter; at most 48 chars)")
        where = f"topic {topic_id!r}"
        if topic_id in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(topic_id)
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}: name must be a non-empty string")
        if len(name) > MAX_NAME_CHARS:
            raise ValueError(f"{where}: name is longer than {MAX_NAME_CHARS} characters")
        description = raw.get("description", "")
        if not isinstance(description, str) or len(description) > MAX_TEXT_CHARS:
            raise ValueError(f"{where}: description must be a string of at most {MAX_TEXT_CHARS} characters")
        keywords = _strings(raw.get("keywords", []), f"{where}: keywords", MAX_KEYWORDS)
        examples = _strings(raw.get("examples", []), f"{where}: examples", MAX_EXAMPLES)
        topics.append(Topic(topic_id, name.strip(), description.strip(), keywords, examples))
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError("taxonomy version must be a positive integer")
    return Taxonomy(version=version, topics=tuple(topics))


def _strings(value: Any, what: str, limit: int) -> tuple[str, ...]:
    """A validated tuple of non-empty, de-duplicated strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} must be a list of strings")
    cleaned = [v.strip() for v in value]
    if any(not v for v in cleaned):
        raise ValueError(f"{what} must not contain empty strings")
    if any(len(v) > MAX_TEXT_CHARS for v in cleaned):
        raise ValueError(f"{what} must each be at most {MAX_TEXT_CHARS} characters")
    unique = tuple(dict.fromkeys(cleaned))
    if len(unique) > limit:
        raise ValueError(f"{what}: too many ({len(unique)}, at most {limit})")
    return unique


def taxonomy_to_dict(taxonomy: Taxonomy) -> dict[str, Any]:
    """The JSON form that parse_taxonomy reads back."""
    return {
        "version": taxonomy.version,
        "topics": [
            {
                "id": t.id,
                "name": t.name,
                "description": t.description,
                "keywords": list(t.keywords),
                "examples": list(t.examples),
            }
            for t in taxonomy.topics
        ],
    }
