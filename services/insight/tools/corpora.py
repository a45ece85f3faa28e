"""Shippable training corpora (GoEmotions, Banking77, Bitext) read from the shared data folder, with CX label maps."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """The evaluation/training data folder: $CXM_EVAL_DATA or ../shared/data beside the repository."""
    return Path(os.environ.get("CXM_EVAL_DATA") or REPO_ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Row:
    """One labelled training text from a shippable corpus."""

    source: str
    text: str
    label: str


GOEMOTIONS_LABELS = [
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
]

# Our six CX emotions from GoEmotions' 27 (others carry no CX emotion of ours).
EMOTION_FROM_GOEMOTIONS = {
    "anger": "anger",
    "disgust": "anger",
    "annoyance": "frustration",
    "disapproval": "frustration",
    "disappointment": "disappointment",
    "sadness": "disappointment",
    "remorse": "disappointment",
    "confusion": "confusion",
    "curiosity": "confusion",
    "joy": "joy",
    "amusement": "joy",
    "excitement": "joy",
    "love": "joy",
    "admiration": "joy",
    "optimism": "joy",
    "relief": "joy",
    "gratitude": "gratitude",
}
EMOTIONS = ("anger", "frustration", "disappointment", "confusion", "joy", "gratitude")

# Banking77 categories by name: reports of something gone wrong read as complaints (negative); the rest are
# information questions (neutral). Ambiguous names are left out.
BANKING_PROBLEMS = frozenset(
    [
        "card_arrival",
        "card_payment_wrong_exchange_rate",
        "extra_charge_on_statement",
        "pending_cash_withdrawal",
        "card_not_working",
        "lost_or_stolen_card",
        "pin_blocked",
        "contactless_not_working",
        "pending_top_up",
        "wrong_amount_of_cash_received",
        "card_payment_fee_charged",
        "transfer_not_received_by_recipient",
        "top_up_reverted",
        "balance_not_updated_after_cheque_or_cash_deposit",
        "card_payment_not_recognised",
        "unable_to_verify_identity",
        "compromised_card",
        "direct_debit_payment_not_recognised",
        "declined_cash_withdrawal",
        "pending_card_payment",
        "lost_or_stolen_phone",
        "declined_transfer",
        "Refund_not_showing_up",
        "declined_card_payment",
        "pending_transfer",
        "card_swallowed",
        "transaction_charged_twice",
        "reverted_card_payment?",
        "failed_transfer",
        "virtual_card_not_working",
        "wrong_exchange_rate_for_cash_withdrawal",
        "top_up_failed",
        "balance_not_updated_after_bank_transfer",
        "cash_withdrawal_not_recognised",
        "beneficiary_not_allowed",
        "request_refund",
        "terminate_account",
    ]
)
BANKING_AMBIGUOUS = frozenset(["cancel_transfer", "transfer_fee_charged", "passcode_forgotten"])

BITEXT_NEGATIVE = frozenset(
    ["complaint", "payment_issue", "registration_problems", "track_refund", "get_refund", "delete_account"]
)
BITEXT_AMBIGUOUS = frozenset(["review"])


def goemotions(split: str = "train") -> Iterator[tuple[str, list[str]]]:
    """GoEmotions `original` rows as (text, label names)."""
    path = data_dir() / "goemotions" / "original" / f"{split}.tsv"
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                yield parts[0], [GOEMOTIONS_LABELS[int(i)] for i in parts[1].split(",") if i]


def goemotions_group(split: str = "train") -> Iterator[Row]:
    """GoEmotions `group` rows with one label, mapped to CX sentiment (ambiguous dropped)."""
    names = ["ambiguous", "negative", "neutral", "positive"]
    path = data_dir() / "goemotions" / "group" / f"{split}.tsv"
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            ids = [int(i) for i in parts[1].split(",") if i]
            if len(ids) == 1 and names[ids[0]] != "ambiguous":
                yield Row("goemotions", parts[0], names[ids[0]])


def banking77() -> Iterator[Row]:
    """Banking77 utterances labelled negative (problem report) or neutral (information question)."""
    with (data_dir() / "banking77_train.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            cat = r["category"]
            if cat in BANKING_AMBIGUOUS:
                continue
            yield Row("banking77", r["text"], "negative" if cat in BANKING_PROBLEMS else "neutral")


def banking77_intents() -> Iterator[Row]:
    """Banking77 utterances with their raw category."""
    with (data_dir() / "banking77_train.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            yield Row("banking77", r["text"], r["category"])


def bitext() -> Iterator[Row]:
    """Bitext utterances labelled negative (complaint/problem) or neutral (request), by intent name."""
    for row in bitext_intents():
        if row.label in BITEXT_AMBIGUOUS:
            continue
        yield Row("bitext", row.text, "negative" if row.label in BITEXT_NEGATIVE else "neutral")


def bitext_intents() -> Iterator[Row]:
    """Bitext utterances with their raw intent."""
    with (data_dir() / "bitext_customer_support_training_8b6ca3d.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            yield Row("bitext", r["instruction"], r["intent"])
