"""Embeds training texts with the shipped ONNX encoder, caching the vectors on disk outside version control."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cxm_insight.nlp.encoder import Encoder
from cxm_insight.nlp.text import clean_text

CACHE_DIR = Path(os.environ.get("CXM_MODEL_CACHE") or Path(__file__).resolve().parents[3] / "build" / "embeddings")


class CachedEncoder:
    """Encodes cleaned texts once per (corpus, encoder version) and reuses the vectors on later runs."""

    def __init__(self, encoder: Encoder) -> None:
        """Wrap a loaded encoder."""
        self.encoder = encoder

    def embed(self, texts: Sequence[str], name: str) -> np.ndarray:
        """Unit-length embeddings of the cleaned texts, shape (n, 384)."""
        cleaned = [clean_text(t) for t in texts]
        digest = hashlib.sha256(("\x00".join(cleaned) + self.encoder.version + "/per-text").encode()).hexdigest()[:16]
        path = CACHE_DIR / f"{name}-{digest}.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
        vectors = self.encoder.encode(cleaned, batch_size=64)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
        return vectors
