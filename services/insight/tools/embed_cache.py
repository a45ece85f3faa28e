"""Embeds training texts with the shipped ONNX encoder, caching vectors on disk outside the repository."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.text import clean_text

CACHE_DIR = Path(os.environ.get("CXM_MODEL_CACHE") or Path(__file__).resolve().parents[3] / ".venv-models" / "cache")


def embed(texts: Sequence[str], name: str, encoder: Encoder | None = None) -> np.ndarray:
    """Embed cleaned texts, reusing a cache file keyed by name and a hash of the texts and encoder."""
    encoder = encoder or Encoder.load(threads=int(os.environ.get("CXM_THREADS", "2")))
    digest = hashlib.sha256(("\x00".join(texts) + encoder.version + str(encoder.per_text)).encode()).hexdigest()[:16]
    path = CACHE_DIR / f"{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vectors = encoder.encode([clean_text(t) for t in texts], batch_size=64)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors
