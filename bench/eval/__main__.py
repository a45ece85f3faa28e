"""`python -m bench.eval [--quick] [--json PATH]`: measure the insight models, print a Markdown table, write JSON."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.eval import tasks, throughput  # noqa: E402
from bench.eval.data import airline, data_dir  # noqa: E402
from cxm_insight.nlp.analyzer import Analyzer  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "eval-insight.json"


def row(name: str, value: float | None, target: str = "", passed: bool | None = None, note: str = "") -> dict[str, Any]:
    """One line of the results table."""
    return {"measure": name, "value": value, "target": target, "pass": passed, "note": note}


def run(quick: bool) -> dict[str, Any]:
    """Run every task; return the JSON document."""
    started = time.perf_counter()
    analyzer = Analyzer.load(threads=1)
    tweets = airline()
    if quick:
        tweets = tweets[:2500]
    _log(f"analysing {len(tweets)} airline tweets")
    airline_run = tasks.AirlineRun(analyzer, tweets)
    sentiment = tasks.sentiment(airline_run)
    topics = tasks.topics(airline_run)
    _log("learning curve")
    curve = tasks.learning_curve(airline_run, analyzer)
    timing = None if quick else tasks.tenant_training_time(analyzer, tweets)
    _log("emotions")
    emotions = tasks.emotions(analyzer, limit=1000 if quick else None)
    _log("intent and urgency")
    intent = tasks.intent_and_urgency(analyzer)
    _log("throughput")
    speed = throughput.measure(limit=1000 if quick else 3000, repeats=1 if quick else 2)

    rows = [
        row(
            "Sentiment accuracy (airline dev, default model)",
            sentiment["accuracy"],
            "≥ 0.65",
            sentiment["accuracy"] >= 0.65,
        ),
        row(
            "Sentiment macro-F1 (airline dev, default model)",
            sentiment["macro_f1"],
            "≥ 0.60",
            sentiment["macro_f1"] >= 0.60,
        ),
        row(
            "Sentiment accuracy without the CX class prior",
            sentiment["without_prior"]["accuracy"],
            "",
            None,
            f"macro-F1 {sentiment['without_prior']['macro_f1']:.3f}",
        ),
    ]
    for key, target in (("200", 0.76), ("500", 0.80), ("all", 0.83)):
        f = curve["sizes"][key]
        ok = f["tenant"] >= target and f["tenant"] > f["baseline"]
        rows.append(
            row(
                f"Tenant model accuracy, {key} labels (5-fold)",
                f["tenant"],
                f"≥ {target:.2f} and > baseline",
                ok,
                f"baseline (embeddings + LR) {f['baseline']:.3f}; macro-F1 {f['tenant_macro_f1']:.3f} "
                f"vs {f['baseline_macro_f1']:.3f}",
            )
        )
    if timing:
        rows.append(
            row(
                f"Tenant model training time, {timing['labels']} labels (s)",
                timing["seconds"],
                "≤ 30",
                timing["seconds"] <= 30,
                "one thread, encoding included",
            )
        )
    rows += [
        row(
            "Topic agreement with negativereason (top-1)",
            topics["top1_agreement"],
            "",
            None,
            f"any of top-3 {topics['any_agreement']:.3f}; n={topics['n']}",
        ),
        row(
            "Emotion macro-F1 (GoEmotions ekman test, covered classes)",
            emotions["macro_f1_covered"],
            "",
            None,
            "anger, joy, sadness, surprise, neutral; disgust and fear not covered",
        ),
        row(
            "Intent accuracy (hand-written CX set)",
            intent["intent_accuracy"],
            "",
            None,
            f"macro-F1 {intent['intent_macro_f1']:.3f}; n={intent['n']}",
        ),
        row(
            "Urgency accuracy (hand-written CX set)",
            intent["urgency_accuracy"],
            "",
            None,
            f"complaints+questions {intent['urgency_accuracy_complaints_questions']:.3f}; "
            f"within one level {intent['urgency_within_one_level']:.3f}",
        ),
        row(
            "Throughput, feedback/s on one core",
            speed["feedback_per_second"],
            "≥ 200",
            speed["feedback_per_second"] >= 200,
            f"airline texts, batch {speed['batch']}, ≤ {speed['max_tokens']} tokens",
        ),
    ]
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpus": os.cpu_count()},
        "model_version": analyzer.model_version,
        "quick": quick,
        "data": str(data_dir().name),
        "rows": rows,
        "details": {
            "sentiment": sentiment,
            "topics": topics,
            "learning_curve": curve,
            "tenant_training": timing,
            "emotions": emotions,
            "intent_urgency": intent,
            "throughput": speed,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }


def markdown(doc: dict[str, Any]) -> str:
    """The results as one Markdown table."""
    lines = ["| measure | value | target | pass | note |", "| --- | ---: | --- | --- | --- |"]
    for r in doc["rows"]:
        value = r["value"]
        shown = f"{value:.1f}" if isinstance(value, float) and value > 1.5 else f"{value:.3f}"
        verdict = "" if r["pass"] is None else ("yes" if r["pass"] else "**no**")
        lines.append(f"| {r['measure']} | {shown} | {r['target']} | {verdict} | {r['note']} |")
    return "\n".join(lines)


def _log(message: str) -> None:
    """Progress on stderr."""
    print(f"[eval] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer texts, for a fast check")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    doc = run(args.quick)
    print(markdown(doc))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    _log(f"wrote {args.json} in {doc['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
