"""Where the shipped model artifacts live inside the installed package."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_META_FILE = "encoder.json"
HEADS_FILE = "heads.npz"
