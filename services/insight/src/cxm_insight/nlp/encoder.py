"""The int8 ONNX MiniLM sentence encoder: texts in, unit-length 384-d embeddings out, offline and on the CPU."""

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
    """all-MiniLM-L6-v2 (int8) on onnxruntime's CPU provider, with mean pooling and L2 normalisation in-graph."""

    version: str

    def __init__(self, session: ort.InferenceSession, tokenizer: Tokenizer, version: str, max_tokens: int) -> None:
        """Wrap a loaded session and tokenizer; use Encoder.load."""
        self._session = session
        self._tokenizer = tokenizer
        self.version = version
        self.max_tokens = max_tokens

    @classmethod
    def load(cls, directory: Path | None = None, *, threads: int = 1, max_tokens: int = 256) -> Encoder:
        """Load the encoder from directory (the shipped artifacts by default); never touches the network."""
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
        meta = json.loads((directory / ENCODER_META_FILE).read_text(encoding="utf-8"))
        return cls(session, tokenizer, str(meta["version"]), max_tokens)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts as an (n, 384) float32 array of L2-normalised rows, in input order.

        Each text is its own onnxruntime call: dynamic int8 quantisation computes activation scales over the
        whole input tensor, so batching would make a text's embedding depend on the texts beside it (and on
        padding). One text per call costs about a third of the batched speed and keeps results reproducible.
        batch_size is accepted for interface compatibility and only bounds tokenizer work per step.
        """
        out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        step = max(1, batch_size) * 8
        for start in range(0, len(texts), step):
            encodings = self._tokenizer.encode_batch([text or "" for text in texts[start : start + step]])
            for offset, encoding in enumerate(encodings):
                ids = np.asarray([encoding.ids], dtype=np.int64)
                feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
                out[start + offset] = self._session.run(None, feeds)[0][0]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, np.maximum(norms, 1e-12), out=out)
        return out
