"""Readers for the evaluation data (kept outside the repository; see the shared data README for licences)."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INTENT_FILE = Path(__file__).resolve().parent / "data" / "cx_intent_urgency.csv"
EKMAN = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def data_dir() -> Path:
    """$CXM_EVAL_DATA, else ../shared/data relative to the repository root."""
    return Path(os.environ.get("CXM_EVAL_DATA") or ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Tweet:
    """One airline tweet with its crowd sentiment and negative reason."""

    text: str
    sentiment: str
    reason: str


def airline() -> list[Tweet]:
    """The airline sentiment dev file (evaluation only, never trained on)."""
    with (data_dir() / "airline_sentiment_dev.csv").open(encoding="utf-8") as f:
        return [Tweet(r["text"], r["airline_sentiment"], r["negativereason"] or "") for r in csv.DictReader(f)]


def goemotions_ekman_test() -> list[tuple[str, set[str]]]:
    """GoEmotions `ekman` test split as (text, set of Ekman labels)."""
    rows = []
    with (data_dir() / "goemotions" / "ekman" / "test.tsv").open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                rows.append((parts[0], {EKMAN[int(i)] for i in parts[1].split(",") if i}))
    return rows


def intent_urgency() -> list[dict[str, str]]:
    """The hand-written CX intent/urgency set (evaluation only)."""
    with INTENT_FILE.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))
