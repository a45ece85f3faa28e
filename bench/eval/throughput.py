"""Analyzer throughput on one core: feedback per second on the airline texts (`python -m bench.eval.throughput`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.eval.data import airline  # noqa: E402
from cxm_insight.nlp.analysis import AnalysisInput  # noqa: E402
from cxm_insight.nlp.analyzer import Analyzer  # noqa: E402
from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY  # noqa: E402

BATCH = 64


def measure(limit: int | None = 3000, batch: int = BATCH, repeats: int = 2) -> dict[str, Any]:
    """Analyse airline texts in batches on one thread; the best of `repeats` passes, as feedback per second."""
    texts = [t.text for t in airline()][:limit]
    items = [AnalysisInput(text) for text in texts]
    analyzer = Analyzer.load(threads=1)
    analyzer.analyze(items[:batch], DEFAULT_TAXONOMY)  # warm-up: session, topic prototypes
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(items), batch):
            analyzer.analyze(items[i : i + batch], DEFAULT_TAXONOMY)
        best = min(best, time.perf_counter() - start)
    encode_start = time.perf_counter()
    analyzer.encoder.encode(texts, batch_size=batch)
    encode_only = time.perf_counter() - encode_start
    return {
        "texts": len(items),
        "batch": batch,
        "threads": 1,
        "max_tokens": analyzer.encoder.max_tokens,
        "seconds": round(best, 3),
        "feedback_per_second": round(len(items) / best, 1),
        "encoder_only_per_second": round(len(items) / encode_only, 1),
        "model_version": analyzer.model_version,
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
