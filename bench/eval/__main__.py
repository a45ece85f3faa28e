"""Evaluate the insight models: `python -m bench.eval [--quick] [--json PATH] [--skip-throughput]`.

Reads the labelled sets from $CXM_EVAL_DATA (default ../shared/data beside the repository) and the hand-written
CX set from bench/eval/data/, prints one Markdown table to stdout (progress goes to stderr) and writes JSON.
"""

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

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from bench.eval import datasets, tasks, throughput  # noqa: E402

DEFAULT_JSON = datasets.ROOT / "bench" / "results" / "eval-insight.json"
THROUGHPUT_TARGET = 200.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="subsets and one fold: a smoke run of about a minute")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON results")
    parser.add_argument("--skip-throughput", action="store_true", help="leave out the speed measurement")
    return parser.parse_args(argv)


def log(message: str) -> None:
    """Progress on stderr."""
    print(message, file=sys.stderr, flush=True)


def markdown(figures: list[tasks.Figure]) -> str:
    """One Markdown table of the figures."""
    lines = ["| Figure | Value | Target | Pass | Note |", "| --- | ---: | ---: | :---: | --- |"]
    for f in figures:
        value = f"{f.value:.1f} {f.unit}".strip() if f.unit else f"{f.value:.3f}"
        target = "" if f.target is None else (f"≥ {f.target:.0f} {f.unit}".strip() if f.unit else f"≥ {f.target:.2f}")
        if f.beats is not None:
            target = f"{target} and > baseline".strip()
        verdict = {True: "yes", False: "**no**", None: ""}[f.passed]
        lines.append(f"| {f.name} | {value} | {target} | {verdict} | {f.note} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import onnxruntime

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    """Run every task, print the table, write the JSON; exit 0 even when a target is missed (it says so)."""
    args = parse_args(argv)
    started = time.perf_counter()
    data = datasets.data_dir()
    if not (data / "airline_sentiment_dev.csv").exists():
        log(f"evaluation data not found in {data}; set CXM_EVAL_DATA")
        return 2
    analyzer = tasks.MemoAnalyzer.load(threads=1)
    results: dict[str, tasks.TaskResult] = {}

    tweets = datasets.airline()
    log(f"analysing {len(tweets)} airline tweets")
    analyses = tasks.analyze(analyzer, [t.text for t in tweets])
    results["sentiment"] = tasks.sentiment_task(tweets, analyses)
    results["topics"] = tasks.topics_task(tweets, analyses)

    log("tenant learning curve")
    results["learning"] = tasks.learning_curve_task(analyzer, tweets, run_folds=1 if args.quick else None)

    ekman = datasets.goemotions_ekman("test")
    log(f"emotions on {len(ekman)} GoEmotions test comments")
    results["emotions"] = tasks.emotions_task(analyzer, ekman[:1000] if args.quick else ekman)

    if datasets.CX_SET.exists():
        log("intent and urgency on the hand-written CX set")
        results["intent_urgency"] = tasks.intent_urgency_task(analyzer, datasets.cx_intent_urgency())
    else:
        log(f"{datasets.CX_SET.name} not found: intent and urgency skipped")

    if not args.skip_throughput:
        log("throughput on one core, default model and with a tenant model")
        speed = throughput.measure(quick=args.quick)
        tenant_speed = throughput.measure(quick=args.quick, tenant=True)
        results["throughput"] = tasks.TaskResult(
            [
                tasks.Figure(
                    "throughput, one core (airline texts, ≤ 256 tokens)",
                    speed["feedback_per_cpu_second"],
                    THROUGHPUT_TARGET,
                    unit="feedback/s",
                    note=f"wall clock {speed['feedback_per_second_wall']:.0f}/s",
                ),
                tasks.Figure(
                    f"throughput, one core, with a tenant model ({throughput.TENANT_LABELS:,} labels)",
                    tenant_speed["feedback_per_cpu_second"],
                    THROUGHPUT_TARGET,
                    unit="feedback/s",
                    note=f"wall clock {tenant_speed['feedback_per_second_wall']:.0f}/s",
                ),
            ],
            {"default": speed, "tenant": tenant_speed},
        )

    figures = [f for r in results.values() for f in r.figures]
    print(markdown(figures))
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": analyzer.model_version,
        "quick": args.quick,
        "data": "$CXM_EVAL_DATA" if os.environ.get("CXM_EVAL_DATA") else "../shared/data",
        "machine": machine(),
        "seconds": round(time.perf_counter() - started, 1),
        "figures": [
            {"name": f.name, "value": round(f.value, 4), "target": f.target, "unit": f.unit, "note": f.note}
            | ({"baseline": round(f.beats, 4)} if f.beats is not None else {})
            | {"passed": f.passed}
            for f in figures
        ],
        "details": {name: r.details for name, r in results.items()},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.json} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
