"""Extractive stories for a theme: the few sentences that say what it is about, with its size, trend and value.

Sentences are chosen by maximal marginal relevance: each pick is the sentence closest to the theme's centroid
after a penalty for resembling what was already picked, and near-duplicates are never picked twice, so three
sentences tell three things rather than one thing three times.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cxm_insight.domain.stats import poisson_rates_two_sided

DEFAULT_SENTENCES = 3
DEFAULT_DIVERSITY = 0.3
DUPLICATE_SIMILARITY = 0.9
MIN_SENTENCE_WORDS = 3
TREND_ALPHA = 0.05

# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "approx.", "no.")
_BOUNDARY = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|[\r\n]+")
_WORDS = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a feedback, with whose feedback it is."""

    text: str
    feedback_id: str
    customer_id: str | None = None


@dataclass(frozen=True, slots=True)
class Trend:
    """A theme's volume now vs the previous period, exposure-adjusted, with an exact test of the difference."""

    current: int
    previous: int
    change: int
    ratio: float | None
    direction: str
    p_value: float


@dataclass(frozen=True, slots=True)
class Story:
    """A theme told in a few of its customers' own sentences, how big it is, where it is heading, what it risks."""

    sentences: list[str]
    sentence_indices: list[int]
    feedback_count: int
    customer_count: int
    sentence_count: int
    trend: Trend
    value_affected: float | None
    customers_with_value: int


def split_sentences(text: str, *, min_words: int = MIN_SENTENCE_WORDS) -> list[str]:
    """A text's sentences (split at . ! ? … and line breaks, not after common abbreviations), short ones dropped."""
    pieces: list[str] = []
    carry = ""
    for piece in _BOUNDARY.split(text):
        piece = (carry + " " + piece).strip() if carry else piece.strip()
        carry = ""
        if not piece:
            continue
        last = piece.rsplit(maxsplit=1)[-1].lower()
        if last in _ABBREVIATIONS or re.fullmatch(r"\w\.", last):
            carry = piece
            continue
        pieces.append(piece)
    if carry:
        pieces.append(carry)
    return [p for p in pieces if len(_WORDS.findall(p)) >= min_words]


def sentences_of(feedback_id: str, text: str, customer_id: str | None = None) -> list[Sentence]:
    """The sentences of one feedback, ready to embed."""
    return [Sentence(s, feedback_id, customer_id) for s in split_sentences(text)]


def representative(
    embeddings: npt.ArrayLike,
    *,
    k: int = DEFAULT_SENTENCES,
    centroid: npt.ArrayLike | None = None,
    diversity: float = DEFAULT_DIVERSITY,
    duplicate_similarity: float = DUPLICATE_SIMILARITY,
    exclude: Sequence[int] = (),
) -> list[int]:
    """Indices of up to k rows that best represent them, by maximal marginal relevance.

    Each pick maximises (1 − diversity) · similarity to the centroid − diversity · highest similarity to a row
    already picked; rows at least `duplicate_similarity` alike to a pick are never picked. The centroid defaults
    to the rows' normalised mean.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError("diversity must be between 0 and 1")
    matrix = _unit_rows(np.asarray(embeddings, dtype=np.float64))
    if matrix.shape[0] == 0 or k <= 0:
        return []
    centre = matrix.mean(axis=0) if centroid is None else np.asarray(centroid, dtype=np.float64).reshape(-1)
    norm = np.linalg.norm(centre)
    relevance = matrix @ (centre / norm) if norm > 0 else np.zeros(matrix.shape[0])
    available = np.ones(matrix.shape[0], dtype=bool)
    available[list(exclude)] = False
    closest = np.full(matrix.shape[0], -np.inf)
    chosen: list[int] = []
    while len(chosen) < k and available.any():
        redundancy = np.where(np.isfinite(closest), closest, 0.0)
        score = np.where(available, (1.0 - diversity) * relevance - diversity * redundancy, -np.inf)
        pick = int(np.argmax(score))
        chosen.append(pick)
        available[pick] = False
        closest = np.maximum(closest, matrix @ matrix[pick])
        available &= closest < duplicate_similarity
    return chosen


def _unit_rows(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows scaled to unit length (zero rows stay zero)."""
    if matrix.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.asarray(matrix / np.where(norms > 0, norms, 1.0), dtype=np.float64)


def trend(
    current: int,
    previous: int,
    *,
    current_exposure: float = 1.0,
    previous_exposure: float = 1.0,
    alpha: float = TREND_ALPHA,
) -> Trend:
    """rising, falling or steady: whether the two periods' rates (count per exposure) differ at level alpha."""
    if current < 0 or previous < 0 or current_exposure <= 0 or previous_exposure <= 0:
        raise ValueError("counts must not be negative and exposures must be positive")
    p_value = poisson_rates_two_sided(current, previous, current_exposure, previous_exposure)
    current_rate, previous_rate = current / current_exposure, previous / previous_exposure
    direction = "steady"
    if p_value < alpha:
        direction = "rising" if current_rate > previous_rate else "falling"
    ratio = current_rate / previous_rate if previous_rate > 0 else None
    return Trend(current, previous, current - previous, ratio, direction, p_value)


def build_story(
    sentences: Sequence[Sentence],
    embeddings: npt.ArrayLike,
    *,
    previous_count: int,
    current_count: int | None = None,
    current_exposure: float = 1.0,
    previous_exposure: float = 1.0,
    customer_values: Mapping[str, float | None] | None = None,
    centroid: npt.ArrayLike | None = None,
    k: int = DEFAULT_SENTENCES,
    diversity: float = DEFAULT_DIVERSITY,
    duplicate_similarity: float = DUPLICATE_SIMILARITY,
) -> Story:
    """The story of a theme from its sentences and their embeddings (one row each).

    The current count defaults to the number of distinct feedback among the sentences; the value affected is the
    sum of the known values (e.g. yearly revenue) of the distinct customers concerned, None when none is known.
    Sentences repeating an earlier one word for word are left out before choosing.
    """
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != len(sentences):
        raise ValueError(f"{len(sentences)} sentences need {len(sentences)} embedding rows, got {matrix.shape}")
    seen: set[str] = set()
    repeats = []
    for index, sentence in enumerate(sentences):
        normalised = " ".join(_WORDS.findall(sentence.text.lower()))
        if normalised in seen:
            repeats.append(index)
        seen.add(normalised)
    picks = representative(
        matrix,
        k=k,
        centroid=centroid,
        diversity=diversity,
        duplicate_similarity=duplicate_similarity,
        exclude=repeats,
    )
    feedback = {s.feedback_id for s in sentences}
    customers = {s.customer_id for s in sentences if s.customer_id is not None}
    known = {c: (customer_values or {}).get(c) for c in customers}
    values = [v for v in known.values() if v is not None]
    count = len(feedback) if current_count is None else current_count
    return Story(
        sentences=[sentences[i].text for i in picks],
        sentence_indices=picks,
        feedback_count=count,
        customer_count=len(customers),
        sentence_count=len(sentences),
        trend=trend(count, previous_count, current_exposure=current_exposure, previous_exposure=previous_exposure),
        value_affected=float(sum(values)) if values else None,
        customers_with_value=len(values),
    )
