"""The shipped classification heads (sentiment, emotions, intent) and the features they read."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxm_insight.nlp.cues import CUE_NAMES, cue_matrix
from cxm_insight.nlp.linear import LinearModel

HEAD_NAMES = ("sentiment", "emotions", "intent")


def base_features(embeddings: np.ndarray, cleaned: Sequence[str]) -> np.ndarray:
    """The heads' input: sentence embedding followed by the lexical cue features."""
    return np.hstack([embeddings, cue_matrix(cleaned)]).astype(np.float32)


@dataclass(frozen=True)
class Heads:
    """The default heads plus the calibration that goes with them."""

    version: str
    sentiment: LinearModel
    emotions: LinearModel
    intent: LinearModel
    sentiment_log_prior: np.ndarray
    emotion_thresholds: np.ndarray


def save_heads(path: Path, heads: Heads) -> None:
    """Write heads as an uncompressed .npz of plain arrays (no pickle)."""
    arrays: dict[str, np.ndarray] = {
        "version": np.array(heads.version),
        "cue_names": np.array(CUE_NAMES),
        "sentiment_log_prior": heads.sentiment_log_prior.astype(np.float32),
        "emotion_thresholds": heads.emotion_thresholds.astype(np.float32),
    }
    for name in HEAD_NAMES:
        model: LinearModel = getattr(heads, name)
        arrays[f"{name}.classes"] = np.array(model.classes)
        arrays[f"{name}.weights"] = model.weights
        arrays[f"{name}.bias"] = model.bias
        arrays[f"{name}.mean"] = model.mean
        arrays[f"{name}.scale"] = model.scale
        arrays[f"{name}.multilabel"] = np.array(model.multilabel)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


def load_heads(path: Path) -> Heads:
    """Read heads written by save_heads, refusing files whose cue features differ from this code's."""
    with np.load(path, allow_pickle=False) as data:
        cue_names = tuple(str(c) for c in data["cue_names"])
        if cue_names != CUE_NAMES:
            raise ValueError(f"{path.name} was trained with different cue features; rebuild the heads")
        models = {
            name: LinearModel(
                classes=tuple(str(c) for c in data[f"{name}.classes"]),
                weights=data[f"{name}.weights"],
                bias=data[f"{name}.bias"],
                mean=data[f"{name}.mean"],
                scale=data[f"{name}.scale"],
                multilabel=bool(data[f"{name}.multilabel"]),
            )
            for name in HEAD_NAMES
        }
        return Heads(
            version=str(data["version"]),
            sentiment=models["sentiment"],
            emotions=models["emotions"],
            intent=models["intent"],
            sentiment_log_prior=data["sentiment_log_prior"],
            emotion_thresholds=data["emotion_thresholds"],
        )
