"""Saving and loading linear heads as .npz archives (no pickle) and the feature layout they expect."""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from cxm_insight.nlp.cues import cue_matrix
from cxm_insight.nlp.linear import LinearModel

_FIELDS = ("weights", "bias", "mean", "scale")


def base_features(embeddings: np.ndarray, cleaned_texts: list[str]) -> np.ndarray:
    """The default heads' dense input: the sentence embedding followed by the lexical cue features."""
    return np.hstack([embeddings, cue_matrix(cleaned_texts)]).astype(np.float32)


def heads_to_arrays(heads: Mapping[str, LinearModel], extras: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Flatten named heads and extra arrays into one name → array mapping."""
    arrays: dict[str, np.ndarray] = {f"extra/{k}": np.asarray(v) for k, v in extras.items()}
    for name, head in heads.items():
        arrays[f"{name}/classes"] = np.array(head.classes, dtype=np.str_)
        arrays[f"{name}/multilabel"] = np.array(head.multilabel)
        for field in _FIELDS:
            arrays[f"{name}/{field}"] = getattr(head, field)
        if head.sparse_weights is not None:
            arrays[f"{name}/sparse_weights"] = head.sparse_weights
    return arrays


def arrays_to_heads(arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, LinearModel], dict[str, np.ndarray]]:
    """Rebuild named heads and extras from arrays made by heads_to_arrays."""
    names = sorted({key.split("/", 1)[0] for key in arrays if not key.startswith("extra/")})
    heads = {}
    for name in names:
        sparse = arrays.get(f"{name}/sparse_weights")
        heads[name] = LinearModel(
            classes=tuple(str(c) for c in arrays[f"{name}/classes"]),
            weights=np.asarray(arrays[f"{name}/weights"], dtype=np.float32),
            bias=np.asarray(arrays[f"{name}/bias"], dtype=np.float32),
            mean=np.asarray(arrays[f"{name}/mean"], dtype=np.float32),
            scale=np.asarray(arrays[f"{name}/scale"], dtype=np.float32),
            multilabel=bool(arrays[f"{name}/multilabel"]),
            sparse_weights=None if sparse is None else np.asarray(sparse, dtype=np.float32),
        )
    extras = {key.split("/", 1)[1]: np.asarray(v) for key, v in arrays.items() if key.startswith("extra/")}
    return heads, extras


def save_heads(path: Path, heads: Mapping[str, LinearModel], extras: Mapping[str, np.ndarray]) -> None:
    """Write heads and extras to a compressed .npz file."""
    np.savez_compressed(path, **heads_to_arrays(heads, extras))  # type: ignore[arg-type]


def load_heads(path: Path) -> tuple[dict[str, LinearModel], dict[str, np.ndarray]]:
    """Read heads and extras from a .npz file, refusing pickled objects."""
    with np.load(path, allow_pickle=False) as data:
        return arrays_to_heads({k: data[k] for k in data.files})


def heads_to_bytes(heads: Mapping[str, LinearModel], extras: Mapping[str, np.ndarray]) -> bytes:
    """Heads and extras as .npz bytes."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **heads_to_arrays(heads, extras))  # type: ignore[arg-type]
    return buffer.getvalue()


def heads_from_bytes(data: bytes) -> tuple[dict[str, LinearModel], dict[str, np.ndarray]]:
    """Heads and extras from .npz bytes, refusing pickled objects."""
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return arrays_to_heads({k: archive[k] for k in archive.files})
