"""Feedback in natural language, written from phrase banks: each theme has many ways to be praised or blamed."""

from __future__ import annotations

import random

# theme → polarity → core sentences. Themes are the demo's own; the analyser finds its topics in the words.
PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "onboarding": {
        "neg": (
            "the setup took me three days and I still could not activate my account",
            "onboarding is confusing, I had no idea what to do after sign up",
            "the activation email never arrived so I am stuck at the first step",
            "getting started was painful, the setup wizard keeps failing on the import",
            "registration went fine but the setup of my workspace never finished",
            "I gave up on the installation, the getting started guide skips half the steps",
            "activation failed twice and the onboarding checklist would not move on",
            "setting up the integration during onboarding took hours and nobody could tell me why it failed",
            "the first time setup is far too complicated for a small team like ours",
            "we signed up two weeks ago and onboarding is still not complete",
        ),
        "pos": (
            "onboarding was quick and easy, we were set up in ten minutes",
            "the setup wizard walked me through everything on the first day",
            "getting started was painless and the activation worked straight away",
            "registration and setup were simple, my whole team was in by lunch",
        ),
        "neu": (
            "the setup was fine, although the import step could be clearer",
            "onboarding took about a day, which is what we expected",
        ),
    },
    "app_crash": {
        "neg": (
            "the app crashes every time I open it since the last update",
            "after the update the app keeps crashing on the home screen",
            "since the new app update it crashes whenever I try to upload a file",
            "the mobile app crashed three times today after the update",
            "your latest app update broke everything, it crashes on launch",
            "ever since the update the app freezes and then crashes",
            "the app update made it unusable, it crashes as soon as I log in",
            "app crashes after the update, I have reinstalled it twice already",
        ),
        "pos": ("the app is stable again after the latest update",),
        "neu": ("the app crashed once after the update but seems fine now",),
    },
    "technical": {
        "neg": (
            "the website keeps showing an error when I export a report",
            "the dashboard is down again and nothing loads",
            "there is a bug in the reports, the totals are wrong",
            "the site is slow and the search gives an error half of the time",
            "the system was down for most of the morning",
        ),
        "pos": ("the new dashboard is fast and works without a single error",),
        "neu": ("the website had a small glitch today but it recovered",),
    },
    "billing_error": {
        "neg": (
            "I was charged twice for the same month",
            "my invoice shows a double charge for the subscription",
            "you billed my card twice and nobody can explain why",
            "there is a duplicate payment on my statement again",
            "the invoice has an extra charge I never agreed to",
            "I got charged twice on renewal, this is the second time",
            "the payment went through twice and I am still waiting for the money back",
            "billing took the monthly charge two times this month",
        ),
        "pos": (
            "billing is clear now and the invoice matched what I expected",
            "the payment went through without any problem this month",
            "the invoice was correct and easy to read",
        ),
        "neu": ("the invoice arrived a bit late but the amount was right",),
    },
    "billing_ok": {
        "neg": ("the invoice was hard to understand",),
        "pos": (
            "the invoice was correct and arrived on time",
            "paying the bill was simple and the receipt came straight away",
            "billing is straightforward, no surprises on the statement",
        ),
        "neu": (
            "the invoice was fine",
            "payment went through as usual",
        ),
    },
    "wait_time": {
        "neg": (
            "I waited on hold for forty minutes before anyone answered",
            "it took five days to get a first reply to my ticket",
            "support is slow, I am still waiting for someone to get back to me",
            "the queue for chat support was over an hour",
            "every answer from support takes days and the delay is hurting our business",
        ),
        "pos": (
            "support answered within minutes",
            "I got a reply to my ticket the same morning, no waiting at all",
        ),
        "neu": ("support took a day to reply, which was acceptable",),
    },
    "staff": {
        "neg": (
            "the agent was rude and closed my ticket without helping",
            "the support agent was dismissive and did not listen",
            "customer service was unhelpful and kept repeating the same script",
        ),
        "pos": (
            "the agent was friendly and fixed my problem right away",
            "Maria from customer service was incredibly helpful",
            "the support agent was patient and explained everything clearly",
            "great customer service, the representative went the extra mile",
            "the staff on the chat were polite and knew the product well",
        ),
        "neu": ("the agent was polite but could not solve it on the first call",),
    },
    "product": {
        "neg": (
            "the quality of the reports has gone down a lot",
            "the product feels unfinished and the experience is clunky",
        ),
        "pos": (
            "great product, the reports save me hours every week",
            "the experience is excellent and the new features are really useful",
            "love the product, it does exactly what we need",
            "the quality is great and the team keeps improving it",
            "fantastic experience overall, the workflow automation is brilliant",
            "the product just works and my team loves it",
        ),
        "neu": (
            "the product does the job",
            "it is a decent product with a few rough edges",
        ),
    },
    "pricing": {
        "neg": (
            "way too expensive for what you get",
            "the price went up again without notice",
            "your competitor is half the price",
            "the new plan costs far more and adds nothing we use",
        ),
        "pos": ("good value for money compared to other tools",),
        "neu": (
            "is there a discount for an annual plan?",
            "the price is fair but not cheap",
        ),
    },
    "login": {
        "neg": (
            "I cannot log in, the password reset email never arrives",
            "my account is locked and the verification code does not work",
            "the login page keeps sending me back to sign in",
        ),
        "pos": ("logging in with single sign on is smooth",),
        "neu": ("I had to reset my password but it worked",),
    },
    "communication": {
        "neg": (
            "nobody told us about the maintenance window",
            "I have emailed three times and got no reply",
            "no update on my case for a week",
        ),
        "pos": ("thanks for keeping me informed at every step",),
        "neu": ("the email updates are fine",),
    },
}

OPENERS = (
    "", "", "", "Honestly, ", "To be honest, ", "Well, ", "Just a note: ", "As a long time customer, ",
    "As a new customer, ", "Quick feedback: ", "Overall, ", "Hi team, ",
)  # fmt: skip
NEG_CLOSERS = (
    "", "", ".", ". Very frustrating.", ". Please fix this.", ". Not good enough.", ". This needs attention.",
    ". I expected better.", ". Really disappointed.", ". Considering other options.",
)  # fmt: skip
POS_CLOSERS = ("", "", ".", ". Thank you!", ". Keep it up.", ". Very happy.", ". Great job.", ". Thanks!")
NEU_CLOSERS = ("", ".", ". Otherwise fine.", ". Nothing else to add.")
CHURN_LINES = (
    "If this is not fixed I will cancel my subscription.",
    "We are thinking about switching to another provider.",
    "I want to close my account.",
    "Unless this improves we will not renew.",
)
SMS_DETRACTOR = ("{n}", "{n} app keeps crashing", "{n} - too slow", "{n}. billing is a mess", "{n} not happy")
SMS_PROMOTER = ("{n}", "{n} love it", "{n}! great service", "{n} - works well")


def sentence(rng: random.Random, theme: str, polarity: str) -> str:
    """One core sentence about a theme with the given polarity (`neg`, `pos` or `neu`)."""
    bank = PHRASES[theme]
    options = bank.get(polarity) or bank["neu"]
    return rng.choice(options)


def compose(rng: random.Random, theme: str, polarity: str, *, extra: tuple[str, str] | None = None) -> str:
    """A short piece of feedback: an opener, the theme's sentence, maybe a second remark, and a closer."""
    opener = rng.choice(OPENERS)
    core = sentence(rng, theme, polarity)
    keep_case = core.split(" ", 1)[0] in ("I", "Maria")
    text = opener + (core[0].lower() if opener and not keep_case else core[0].upper()) + core[1:]
    closers = {"neg": NEG_CLOSERS, "pos": POS_CLOSERS}.get(polarity, NEU_CLOSERS)
    closer = rng.choice(closers)
    text += closer if closer else "."
    if not text.endswith((".", "!", "?")):
        text += "."
    if extra is not None:
        second = sentence(rng, *extra)
        joiner = rng.choice(("Also, ", "On the other hand, ", "And ", "Besides that, ")) if extra[1] != polarity else ""
        text += " " + (joiner + second if joiner else second[0].upper() + second[1:]) + "."
    return text


def churn_line(rng: random.Random) -> str:
    """A sentence announcing the customer may leave."""
    return rng.choice(CHURN_LINES)


def sms(rng: random.Random, nps: int) -> str:
    """An SMS answer to an NPS survey: the number, sometimes with a few words."""
    bank = SMS_DETRACTOR if nps <= 6 else SMS_PROMOTER
    return rng.choice(bank).format(n=nps)
