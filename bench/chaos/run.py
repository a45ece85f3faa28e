"""Running scenarios against one system: each bounded in time, sampled for memory, turned into an outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from bench.chaos.scenario import Budget, Outcome, Run, Scenario
from bench.chaos.scenarios import ALL
from bench.chaos.system import ChaosSystem, Sampler, tail
from bench.chaos.traffic import client_session

log = logging.getLogger("chaos")


def select(only: Sequence[str], quick: bool) -> list[Scenario]:
    """The scenarios named by `--only` (all when empty; with `quick` and no names, the CI selection)."""
    wanted = {name.strip().upper() for item in only for name in item.split(",") if name.strip()}
    unknown = wanted - {s.id for s in ALL}
    if unknown:
        known = ", ".join(s.id for s in ALL)
        raise SystemExit(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {known}")
    if wanted:
        return [s for s in ALL if s.id in wanted]
    return [s for s in ALL if s.quick] if quick else list(ALL)


async def execute(system: ChaosSystem, scenario: Scenario, budget: Budget, *, quick: bool) -> Outcome:
    """Run one scenario within its time limit; a failure to finish is reported, never raised."""
    outcome = Outcome(scenario.id, scenario.title)
    began = time.monotonic()
    async with client_session() as session:
        with Sampler(system) as sampler:
            run = Run(system, session, budget, quick, sampler)
            try:
                await asyncio.wait_for(scenario.run(run, outcome), timeout=budget.scenario_timeout_s)
            except Exception as exc:
                log.exception("%s did not finish", scenario.id)
                outcome.error = f"{type(exc).__name__}: {exc}"
        outcome.max_rss_mb = sampler.max_rss_mb()
    outcome.seconds = round(time.monotonic() - began, 1)
    # A scenario leaves every process running for the next one, whatever it killed.
    for name, process in system.processes.items():
        if not process.alive():
            log.warning("%s was left down by %s; restarting it\n%s", name, scenario.id, tail(process.log_path, 10))
            await system.restart(name)
    return outcome


async def run_all(system: ChaosSystem, scenarios: Sequence[Scenario], budget: Budget, *, quick: bool) -> list[Outcome]:
    """Run scenarios in order against one system."""
    outcomes = []
    for index, scenario in enumerate(scenarios, 1):
        log.info("[%d/%d] %s %s …", index, len(scenarios), scenario.id, scenario.title)
        outcome = await execute(system, scenario, budget, quick=quick)
        state = "held" if outcome.ok else "BROKEN" if not outcome.error else "ERROR"
        log.info("[%d/%d] %s %s in %.0fs%s", index, len(scenarios), scenario.id, state, outcome.seconds,
                 "".join(f"\n    ✗ {c.name}: {c.detail}" for c in outcome.broken()))  # fmt: skip
        outcomes.append(outcome)
    return outcomes
