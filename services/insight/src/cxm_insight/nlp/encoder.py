"""The int8 ONNX MiniLM sentence encoder: texts in, unit-length 384-d embeddings out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from cxm_insight.nlp.paths import ENCODER_FILE, ENCODER_META_FILE, MODELS_DIR, TOKENIZER_FILE

DIMENSIONS = 384


class Encoder:
    """Sentence encoder running all-MiniLM-L6-v2 (int8) on onnxruntime's CPU provider."""

    version: str

    def __init__(
        self, session: ort.InferenceSession, tokenizer: Tokenizer, version: str, max_tokens: int, per_text: bool
    ) -> None:
        """Wrap a loaded session and tokenizer; use Encoder.load instead."""
        self._session = session
        self._tokenizer = tokenizer
        self.version = version
        self.max_tokens = max_tokens
        self.per_text = per_text

    @classmethod
    def load(cls, directory: Path | None = None, *, threads: int = 1, max_tokens: int = 256) -> Encoder:
        """Load the encoder from directory (the shipped models by default); never touches the network."""
        directory = directory or MODELS_DIR
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(directory / ENCODER_FILE), options, providers=["CPUExecutionProvider"])
        tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        meta = json.loads((directory / ENCODER_META_FILE).read_text())
        return cls(session, tokenizer, str(meta["version"]), max_tokens, bool(meta.get("per_text", False)))

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts as an (n, 384) float32 array of L2-normalised rows, in input order.

        Texts are tokenised together and sorted by length; batch_size texts go to onnxruntime per call, except
        with a dynamically quantised model, whose activation scales are computed over the whole call: it runs one
        text per call so that a text's embedding never depends on the texts it was batched with.
        """
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        if not texts:
            return out
        if self.per_text:
            batch_size = 1
        encodings = self._tokenizer.encode_batch([text or "" for text in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        # Sorting by length keeps padding (wasted compute) small within each batch.
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for i, row in enumerate(rows):
                n = lengths[row]
                ids[i, :n] = encodings[row].ids
                mask[i, :n] = 1
            emb = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
            out[rows] = emb
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out
