"""Run the bench end to end: `python bench/run.py [--only NAME ...] [--quick] [--json PATH] [--list]`.

It starts its own Postgres and NATS, measures the machine's raw limits and the kit's figures in the same run,
prints one Markdown table to stdout (progress goes to stderr), and writes JSON plus a PNG chart beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

try:
    import uvloop
except ImportError:  # pragma: no cover - not on Windows
    uvloop = None

from bench import load  # noqa: E402
from bench.harness import FULL, QUICK, Budget, Context, Scenario, percentiles_ms  # noqa: E402
from bench.report import Result, markdown_table, write_chart, write_json  # noqa: E402
from bench.scenarios import ALL  # noqa: E402
from bench.stack import Stack  # noqa: E402

DEFAULT_JSON = ROOT / "bench" / "results" / "latest.json"
NOISY_PCT = 25.0
"""Other processes' CPU use (% of one CPU) above which a scenario's figures are flagged as disturbed."""

log = logging.getLogger("bench")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this scenario or group (e.g. `store` or `store.append_1conn`); repeatable, comma-separated",
    )
    parser.add_argument("--quick", action="store_true", help="shorter windows and smaller pre-fills (a smoke run)")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON results")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def select(only: list[str]) -> list[Scenario]:
    """Return the scenarios named by `--only` (all when empty) plus the raw limits they are compared with."""
    wanted = [name.strip() for item in only for name in item.split(",") if name.strip()]
    if not wanted:
        return list(ALL)
    unknown = [w for w in wanted if not any(s.name == w or s.group == w for s in ALL)]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {', '.join(unknown)}; try --list")
    chosen = {s.name for s in ALL if s.name in wanted or s.group in wanted}
    chosen |= {s.raw for s in ALL if s.name in chosen and s.raw}
    return [s for s in ALL if s.name in chosen]


async def measure(scenario: Scenario, ctx: Context, raw_values: dict[str, float]) -> Result:
    """Run one scenario within its time limit and turn the measurement into a report row."""
    result = Result(name=scenario.name, figure=scenario.figure, unit=scenario.unit, value=None, raw=scenario.raw)
    try:
        m = await asyncio.wait_for(scenario.run(ctx), timeout=ctx.budget.scenario_timeout_s)
    except Exception as exc:
        log.exception("%s failed", scenario.name)
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    result.value = m.headline
    result.figure = m.figure or scenario.figure
    result.items = m.items
    result.seconds = round(m.seconds, 3)
    result.latency_ms = m.percentiles_ms or percentiles_ms(m.latencies_s)
    result.latency_of = scenario.latency_of if result.latency_ms else None
    result.extra = dict(m.extra)
    if m.cpu_s is not None and m.items:
        result.extra["client_cpu_ms_per_item"] = round(m.cpu_s / m.items * 1000, 4)
    if scenario.group == "raw":
        raw_values[scenario.name] = m.headline
    if scenario.raw and scenario.raw in raw_values:
        result.raw_value = raw_values[scenario.raw]
        result.ratio = m.headline / result.raw_value if result.raw_value else None
    if scenario.target:
        result.target = scenario.target.label()
        result.target_met = scenario.target.met(m.headline)
    return result


async def run(scenarios: list[Scenario], budget: Budget) -> tuple[list[Result], dict[str, Any]]:
    """Start the servers, run every scenario in order, stop the servers; return the rows and run metadata."""
    started = time.perf_counter()
    results: list[Result] = []
    raw_values: dict[str, float] = {}
    with Stack() as stack:
        await stack.create_databases()
        servers = await stack.server_info()
        log.info("servers up in %.1fs: %s", time.perf_counter() - started, servers)
        ctx = Context(stack=stack, budget=budget)
        for index, scenario in enumerate(scenarios, 1):
            began = time.perf_counter()
            cpu_before = load.snapshot(stack.server_pids())
            result = await measure(scenario, ctx, raw_values)
            cpu = load.usage(cpu_before, load.snapshot(stack.server_pids()))
            result.extra.update(cpu)
            shown = "error" if result.error else f"{result.value:,.1f} {result.unit}"
            log.info(
                "[%2d/%d] %-26s %s (%.1fs, bench CPU %s%%, others %s%%, steal %s%%)", index, len(scenarios),
                scenario.name, shown, time.perf_counter() - began, cpu.get("bench_cpu_pct", "?"),
                cpu.get("others_cpu_pct", "?"), cpu.get("steal_cpu_pct", "?"),
            )  # fmt: skip
            if cpu.get("others_cpu_pct", 0.0) > NOISY_PCT:
                log.warning("%s ran while other processes used %s%% of a CPU: its figures are disturbed",
                            scenario.name, cpu["others_cpu_pct"])  # fmt: skip
            if cpu.get("steal_cpu_pct", 0.0) > NOISY_PCT:
                log.warning("%s ran while the hypervisor took %s%% of a CPU from this machine (steal): its figures "
                            "are disturbed", scenario.name, cpu["steal_cpu_pct"])  # fmt: skip
            results.append(result)
        ctx.close()
    meta = {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 1),
        "budget": budget.__dict__,
        "python": platform.python_version(),
        "event_loop": type(asyncio.get_running_loop()).__module__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "servers": servers,
    }
    return results, meta


def main(argv: list[str] | None = None) -> int:
    """Run the bench and report; exit non-zero when a scenario failed."""
    args = parse_args(argv)
    if args.list:
        for scenario in ALL:
            print(f"{scenario.name:28} {scenario.figure} ({scenario.unit})")
        return 0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    scenarios = select(args.only)
    budget = QUICK if args.quick else FULL
    # The event loop the services run on: uvicorn picks uvloop when it is installed, and so does the bench.
    results, meta = uvloop.run(run(scenarios, budget)) if uvloop is not None else asyncio.run(run(scenarios, budget))
    meta["quick"] = args.quick
    print(markdown_table(results))
    json_path: Path = args.json
    write_json(results, meta, json_path)
    try:
        write_chart(results, json_path.with_suffix(".png"))
    except Exception as exc:  # the chart is a nicety: the run still succeeds without it
        log.warning("chart not written: %r", exc)
    log.info("finished in %.0fs; results in %s", meta["duration_s"], json_path)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
