"""F9: the gateway at 1×, 2× and 5× the capacity measured in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psutil

from bench.chaos import reconcile
from bench.chaos.reconcile import Expected
from bench.chaos.scenario import Outcome, Run, reconcile_into
from bench.chaos.traffic import Request, Traffic, feedback_api, paced, percentiles_ms

TARGET_P99_MS = 50.0
"""The ingest target: p99 of accepted requests."""
DISTURBED_PCT = 50.0
"""Other processes' CPU use (in % of one CPU) above which the latency of a phase is reported, not checked."""
ANSWERED_MS = 1000.0
"""Accepted requests slower than this at 5× were queued, not answered: the failure admission control prevents."""
KEYS = 8
"""Tenants (one key each) sharing the load, so that the per-key rate limit is not what sheds it."""
STEPS = (10, 20, 30, 40, 60, 80, 100, 130, 160, 200, 260, 320)
QUICK_STEPS = (10, 20, 40, 80, 160, 320)
SHED = ("429", "503")
TRACKED = ("gateway", "ingest-api")
"""The processes whose memory over time the report keeps."""


async def overload(run: Run, outcome: Outcome) -> None:
    """F9: step the offered rate of single feedback POSTs up until the system stops keeping up within the p99
    target (the capacity), then offer 1×, 2× and 5× that: the excess must be refused at once (429/503 with
    Retry-After), accepted requests must keep their latency and throughput, and memory must stay flat."""
    tenants = [await run.tenant(f"f9-{i}") for i in range(KEYS)]
    base = await reconcile.baseline(run.system)
    rid = run.run_id("f9")
    counter = iter(range(10**9))
    everything = Traffic()

    def make(n: int) -> Request:
        number = next(counter)
        return feedback_api(tenants[number % KEYS], rid, number, f"load-{number % 500}")

    steps: list[dict[str, Any]] = []
    capacity, target = 0.0, TARGET_P99_MS
    for rate in QUICK_STEPS if run.quick else STEPS:
        phase = await _phase(run, f"step {rate}/s", make, rate, run.budget.overload_step_s, everything)
        steps.append(phase)
        p99 = phase["accepted_ms"].get("p99", 1e9)
        if len(steps) == 1 and p99 > TARGET_P99_MS:
            # Even the lightest load misses the target: the machine is slower (or busier) than the target assumes.
            # The search then looks for where latency triples (or the system falls behind), and the report says
            # the target was relaxed.
            target = 3 * p99
        keeps_up = phase["shed_pct"] <= 1.0 and phase["accepted_rate"] >= 0.95 * rate and not phase["no_answer"]
        if not keeps_up or p99 > target:
            break
        capacity = rate
    outcome.extra["capacity_search"] = steps
    outcome.figures.update({"capacity_per_s": capacity, "p99_target_ms": round(target, 1),
                            "p99_target_relaxed": target != TARGET_P99_MS})  # fmt: skip
    outcome.check("a capacity was found", capacity > 0, f"steps: {_brief(steps)}")
    if capacity == 0:
        capacity = float(steps[0]["offered_rate"])
    phases = []
    for factor in (1, 2, 5):
        phases.append(
            await _phase(run, f"{factor}×", make, capacity * factor, 3 * run.budget.overload_step_s, everything)
        )
    outcome.extra["phases"] = phases
    figures = await reconcile_into(run, outcome, base, everything, Expected.of(everything), [t.id for t in tenants])
    one, _, five = phases
    for phase in phases:
        refused = {k: v for k, v in phase["statuses"].items() if not k.startswith("2")}
        outcome.check(f"{phase['name']}: every refusal is a 429/503 with Retry-After, none a timeout",
                      set(refused) <= set(SHED) and phase["refused_without_retry_after"] == 0,
                      f"{phase['statuses']}, {phase['refused_without_retry_after']} without Retry-After")  # fmt: skip
        # A target, like the bench's: on a shared two-core machine other processes' load sets the tail.
        p99 = phase["accepted_ms"].get("p99", 1e9)
        outcome.target(f"{phase['name']}: p99 of accepted requests ≤ {TARGET_P99_MS:.0f} ms", p99 <= TARGET_P99_MS,
                       f"{p99:.0f} ms")  # fmt: skip
    # The promise behind the target: the excess is refused, not queued, so what is accepted is answered promptly
    # (without admission control, 100 feedback/s here queued to a p99 of 3.4 s on the way to timeouts). When other
    # processes took much of the machine meanwhile, latency says more about them: it is reported, not checked.
    answered = five["accepted_ms"].get("p99", 1e9) <= ANSWERED_MS
    name = f"5×: accepted requests are answered, not queued (p99 ≤ {ANSWERED_MS:.0f} ms)"
    if five["others_cpu_pct"] > DISTURBED_PCT:
        outcome.target(name + f" — disturbed: other processes used {five['others_cpu_pct']:.0f} % of a CPU",
                       answered, str(five["accepted_ms"]))  # fmt: skip
    else:
        outcome.check(name, answered, str(five["accepted_ms"]))
    outcome.check("5×: accepted throughput holds (≥ 80 % of capacity)", five["accepted_rate"] >= 0.8 * capacity,
                  f"{five['accepted_rate']:.0f}/s of {capacity:.0f}/s")  # fmt: skip
    for name in ("gateway", "ingest-api"):
        low, high = one["rss_mb"].get(name, 0.0), five["rss_mb"].get(name, 0.0)
        outcome.check(f"memory flat under 5×: {name} RSS within 1× + 25 %", high <= low * 1.25 + 16,
                      f"{low:.0f} MB at 1×, {high:.0f} MB at 5×")  # fmt: skip
    outcome.check("lost = 0 (every accepted request stored)", figures["lost"] == 0, str(figures["lost_ids"]))
    outcome.check("duplicates leaked = 0", figures["leaked"] == 0, str(figures["duplicates_leaked"]))
    outcome.check("every accepted record projected once by every service",
                  figures["projected"] == figures["projected_wanted"],
                  f"{figures['projected']} of {figures['projected_wanted']}")  # fmt: skip


async def _phase(
    run: Run, name: str, make: Callable[[int], Request], rate: float, seconds: float, everything: Traffic
) -> dict[str, Any]:
    """Offer `rate` for `seconds` (open loop) after the backlog of the previous phase drained; what it gave."""
    await reconcile.consumers_idle(run.system, run.budget.drain_timeout_s)
    assert run.sampler is not None
    first_sample = len(run.sampler.samples)
    machine_before, harness_before = _busy_s(), _harness_s()
    began = time.monotonic()
    # No retries: what the gateway sheds is what this scenario measures.
    traffic = await paced(run.session, run.gateway, make, rate=rate, seconds=seconds,
                          max_count=int(rate * seconds) + 1, retries=0)  # fmt: skip
    elapsed = time.monotonic() - began
    machine_pct = (_busy_s() - machine_before) / elapsed * 100
    harness_pct = (_harness_s() - harness_before) / elapsed * 100
    everything.extend(traffic)
    samples = run.sampler.samples[first_sample:]
    statuses = traffic.statuses()
    accepted = traffic.acked()
    shed = sum(v for k, v in statuses.items() if k in SHED)
    rss: dict[str, float] = {}
    cpu: dict[str, float] = {}
    for sample in samples:
        for process, value in sample.rss.items():
            rss[process] = max(rss.get(process, 0.0), round(value / 2**20, 1))
    if len(samples) >= 2:
        span = samples[-1].at - samples[0].at
        cpu = {p: round((samples[-1].cpu[p] - samples[0].cpu.get(p, 0.0)) / span * 100, 1)
               for p in samples[-1].cpu if span > 0}  # fmt: skip
    return {
        "name": name,
        "offered_rate": rate,
        "sent": len(traffic.sent),
        "accepted_rate": round(len(accepted) / elapsed, 1),
        "accepted_ms": percentiles_ms([s.latency_s for s in accepted]),
        "refused_ms": percentiles_ms([s.latency_s for s in traffic.sent if not 200 <= s.status < 300]),
        "shed_pct": round(100 * shed / max(1, len(traffic.sent)), 1),
        "statuses": statuses,
        "no_answer": statuses.get("0", 0),
        "refused_without_retry_after": sum(1 for s in traffic.sent if str(s.status) in SHED and not s.retry_after),
        "rss_mb": rss,
        "cpu_pct": cpu,
        "harness_cpu_pct": round(harness_pct, 1),
        "others_cpu_pct": round(max(0.0, machine_pct - harness_pct - sum(cpu.values())), 1),
        "rss_over_time_mb": {p: [round(s.rss[p] / 2**20, 1) for s in samples if p in s.rss] for p in TRACKED},
    }


def _busy_s() -> float:
    """CPU seconds the whole machine has been busy."""
    times = psutil.cpu_times()
    return float(sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal")))


def _harness_s() -> float:
    """CPU seconds of this process (the load generator and the sampler)."""
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


def _brief(steps: list[dict[str, Any]]) -> str:
    return ", ".join(f"{s['offered_rate']:.0f}/s p99 {s['accepted_ms'].get('p99', '–')} ms" for s in steps)
