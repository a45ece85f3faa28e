"""Readers for the evaluation data: the shared labelled sets and the project's hand-written CX set."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CX_SET = Path(__file__).resolve().parent / "data" / "cx_intent_urgency.csv"
EKMAN = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def data_dir() -> Path:
    """The shared data folder: $CXM_EVAL_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("CXM_EVAL_DATA") or ROOT.parent / "shared" / "data")


@dataclass(frozen=True)
class Tweet:
    """One airline tweet with its crowd labels."""

    text: str
    sentiment: str
    reason: str


def airline() -> list[Tweet]:
    """The airline dev half (evaluation only: never trained on)."""
    with (data_dir() / "airline_sentiment_dev.csv").open(encoding="utf-8") as f:
        return [Tweet(r["text"], r["airline_sentiment"], r["negativereason"]) for r in csv.DictReader(f)]


def goemotions_ekman(split: str = "test") -> list[tuple[str, frozenset[str]]]:
    """GoEmotions rows with Ekman labels (multi-label)."""
    rows = []
    with (data_dir() / "goemotions" / "ekman" / f"{split}.tsv").open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1]:
                rows.append((parts[0], frozenset(EKMAN[int(i)] for i in parts[1].split(","))))
    return rows


def cx_intent_urgency() -> list[dict[str, str]]:
    """The hand-written CX set (text, intent, urgency); evaluation only."""
    with CX_SET.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))
