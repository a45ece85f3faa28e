"""`python -m bench.chaos [--only F3 ...] [--quick] [--list]`: start a system of our own, run the fault scenarios,
print the reconciliation table, write `bench/results/chaos.json` and `.md`; exit 1 when a promise broke."""

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

from bench.chaos import report
from bench.chaos.run import run_all, select
from bench.chaos.scenario import FULL, QUICK
from bench.chaos.scenarios import ALL
from bench.chaos.system import ChaosSystem

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
log = logging.getLogger("chaos")


def main(argv: list[str] | None = None) -> int:
    """Run the chaos suite and report; non-zero when a scenario broke a promise or did not finish."""
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="F3",
                        help="run only these scenarios (repeatable, comma-separated)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="shorter windows and outages; without --only, the scenarios CI runs")  # fmt: skip
    parser.add_argument("--json", type=Path, default=RESULTS / "chaos.json")
    parser.add_argument("--md", type=Path, default=RESULTS / "chaos.md")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for s in ALL:
            print(f"{s.id:4} {s.title} — must hold: {s.must_hold}{' (CI)' if s.quick else ''}")
        return 0
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    scenarios = select(args.only, args.quick)
    budget = QUICK if args.quick else FULL
    began = time.monotonic()
    with ChaosSystem() as system:
        outcomes = asyncio.run(run_all(system, scenarios, budget, quick=args.quick))
        described = system.describe()
        system.keep = system.keep or not all(o.ok for o in outcomes)
    meta = {
        "command": " ".join(["python -m bench.chaos", *(argv if argv is not None else sys.argv[1:])]),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - began, 1),
        "budget": budget.__dict__,
        "system": described,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    print(report.markdown(outcomes, meta))
    report.write(outcomes, meta, args.json, args.md)
    log.info("finished in %.0fs; reports in %s and %s", meta["duration_s"], args.json, args.md)
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
