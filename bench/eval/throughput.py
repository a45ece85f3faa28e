"""Analyzer throughput on one core: feedback per second over the airline tweets (`python -m bench.eval.throughput`).

Texts are capped at 256 tokens; onnxruntime runs with one intra-op thread. The headline figure divides the
number of texts by the process's CPU time, so it reads as "per core" even when BLAS would use a second thread.
With a tenant model, the model is first trained on the labels of the first TENANT_LABELS tweets (as the labels API
would) and every batch is analysed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

from bench.eval.datasets import airline

BATCH = 256
TENANT_LABELS = 1000


def measure(quick: bool = False, batch: int = BATCH, tenant: bool = False) -> dict[str, Any]:
    """Load the analyzer (threads=1) and time analyze() over the airline texts in batches of `batch`."""
    from cxm_insight.nlp.analysis import AnalysisInput
    from cxm_insight.nlp.analyzer import Analyzer
    from cxm_insight.nlp.learning import LabelExample, TenantModel, train_tenant_model
    from cxm_insight.nlp.taxonomy import DEFAULT_TAXONOMY

    started = time.perf_counter()
    analyzer = Analyzer.load(threads=1)
    load_seconds = time.perf_counter() - started
    tweets = airline()
    texts = [t.text for t in tweets]
    if quick:
        texts = texts[:1500]
    model: TenantModel | None = None
    if tenant:
        model = train_tenant_model(analyzer, [LabelExample(t.text, t.sentiment) for t in tweets[:TENANT_LABELS]])
    analyzer.analyze([AnalysisInput(text=t) for t in texts[:64]], DEFAULT_TAXONOMY, model)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for start in range(0, len(texts), batch):
        analyzer.analyze([AnalysisInput(text=t) for t in texts[start : start + batch]], DEFAULT_TAXONOMY, model)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "texts": len(texts),
        "batch": batch,
        "max_tokens": analyzer.encoder.max_tokens,
        "onnxruntime_threads": 1,
        "tenant_model_labels": TENANT_LABELS if tenant else None,
        "feedback_per_cpu_second": round(len(texts) / cpu, 1),
        "feedback_per_second_wall": round(len(texts) / wall, 1),
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "load_seconds": round(load_seconds, 2),
        "model_version": analyzer.model_version,
    }


def main() -> None:
    """Print the throughput figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1,500 texts instead of all")
    parser.add_argument("--batch", type=int, default=BATCH, help="texts per analyze() call")
    parser.add_argument("--tenant", action="store_true", help="analyse with a tenant model trained on 1,000 labels")
    args = parser.parse_args()
    print(json.dumps(measure(args.quick, args.batch, args.tenant), indent=2))


if __name__ == "__main__":
    # One core means one BLAS thread too; set before numpy is imported by the analyzer.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    main()
