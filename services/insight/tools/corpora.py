"""Readers for the shippable training corpora (GoEmotions, Banking77, Bitext) and their mapping to CX labels."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

GOEMOTIONS_LABELS: tuple[str, ...] = (
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
)
GROUP_LABELS = ("ambiguous", "negative", "neutral", "positive")

# Our six CX emotions, each from the GoEmotions emotions that mean it in a customer's mouth.
EMOTION_SOURCES: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "disgust"),
    "frustration": ("annoyance", "disapproval"),
    "disappointment": ("disappointment", "sadness"),
    "confusion": ("confusion",),
    "joy": ("joy", "amusement", "excitement", "love", "admiration"),
    "gratitude": ("gratitude",),
}

# Banking77 categories whose names say something went wrong (a problem report, negative); every other category
# is an information question (neutral). Chosen from the category names alone.
_BANKING_PROBLEM = re.compile(
    r"not_working|declined|failed|pending|wrong|not_recognised|charged_twice|lost_or_stolen|compromised|swallowed"
    r"|reverted|not_received|not_updated|unable|blocked|extra_charge|not_showing_up|card_arrival|terminate_account"
)
BANKING_CHURN = frozenset({"terminate_account"})

# Bitext intents: complaints and reported problems are negative, the rest are neutral requests; reviews mix
# praise and complaints, so they are left out of sentiment.
BITEXT_NEGATIVE = frozenset({"complaint", "payment_issue", "registration_problems"})
BITEXT_SKIP_SENTIMENT = frozenset({"review"})
BITEXT_CHURN = frozenset({"delete_account"})


@dataclass(frozen=True)
class Row:
    """One training text with its source and label (or labels, comma-separated)."""

    source: str
    text: str
    label: str


def data_dir() -> Path:
    """The shared data folder: $CXM_EVAL_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("CXM_EVAL_DATA") or REPO_ROOT.parent / "shared" / "data")


def goemotions(split: str) -> list[tuple[str, tuple[str, ...]]]:
    """GoEmotions `original` rows of one split as (text, emotion names)."""
    rows = []
    path = data_dir() / "goemotions" / "original" / f"{split}.tsv"
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1]:
                rows.append((parts[0], tuple(GOEMOTIONS_LABELS[int(i)] for i in parts[1].split(","))))
    return rows


def goemotions_sentiment(split: str = "train") -> list[Row]:
    """GoEmotions `group` rows with exactly one of positive/negative/neutral (ambiguous and mixed rows dropped)."""
    rows = []
    path = data_dir() / "goemotions" / "group" / f"{split}.tsv"
    with path.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            ids = [int(i) for i in parts[1].split(",") if i]
            if len(ids) == 1 and GROUP_LABELS[ids[0]] != "ambiguous":
                rows.append(Row("goemotions", parts[0], GROUP_LABELS[ids[0]]))
    return rows


def banking77() -> list[Row]:
    """Banking77 utterances with their category."""
    with (data_dir() / "banking77_train.csv").open(encoding="utf-8") as f:
        return [Row("banking77", r["text"], r["category"]) for r in csv.DictReader(f)]


def banking_is_problem(category: str) -> bool:
    """Whether a Banking77 category reports something gone wrong (by its name)."""
    return _BANKING_PROBLEM.search(category) is not None


def bitext() -> list[Row]:
    """Bitext customer-support utterances with their intent."""
    with (data_dir() / "bitext_customer_support_training_8b6ca3d.csv").open(encoding="utf-8") as f:
        return [Row("bitext", r["instruction"], r["intent"]) for r in csv.DictReader(f)]


def sentiment_rows() -> list[Row]:
    """Every shippable text mapped to CX sentiment (negative / neutral / positive)."""
    rows = list(goemotions_sentiment("train"))
    for r in banking77():
        rows.append(Row("banking77", r.text, "negative" if banking_is_problem(r.label) else "neutral"))
    for r in bitext():
        if r.label not in BITEXT_SKIP_SENTIMENT:
            rows.append(Row("bitext", r.text, "negative" if r.label in BITEXT_NEGATIVE else "neutral"))
    return rows
