"""Funnels: how many customers go through an ordered list of steps, how fast, and where they drop off.

A customer enters at their first occurrence of step 1 in [since, until). Each next step counts at its first
occurrence strictly after the previous step's time and no later than `within` after the entry (later steps may fall
after `until`: a customer who entered in the period is followed to the end of their window). An interaction step
matches an interaction of that exact name; a stage step matches any step in that stage.

Per step: `entered` customers reached it, `conversion_rate` = entered / entered at the previous step (None for the
first, or after a step nobody reached), `median_seconds_to_convert` from the previous step (None for the first or
when nobody reached it) and `drop_off` = entered − entered at the next step (0 for the last).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cxm_journey.domain.paths import Step, order_steps

STEP_KINDS = ("interaction", "stage")
MAX_FUNNEL_STEPS = 20


@dataclass(frozen=True, slots=True)
class FunnelStep:
    """One step of a funnel: an interaction name or a stage."""

    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class StepResult:
    """How customers fared at one funnel step."""

    step: FunnelStep
    entered: int
    conversion_rate: float | None
    median_seconds_to_convert: float | None
    drop_off: int


@dataclass(frozen=True, slots=True)
class FunnelResult:
    """Every step's result, and the share of entrants who reached the last step."""

    steps: list[StepResult]
    overall_conversion: float | None


def matches(fs: FunnelStep, step: Step) -> bool:
    """Whether a journey step counts as a funnel step."""
    if fs.kind == "stage":
        return step.stage == fs.value
    return step.kind == "interaction" and step.name == fs.value


def check_funnel(steps: Sequence[FunnelStep], within: timedelta) -> None:
    """Refuse a funnel with no steps, too many, an unknown kind, an empty value or a window that is not positive."""
    if not steps:
        raise ValueError("a funnel needs at least one step")
    if len(steps) > MAX_FUNNEL_STEPS:
        raise ValueError(f"a funnel holds at most {MAX_FUNNEL_STEPS} steps, got {len(steps)}")
    for i, fs in enumerate(steps, start=1):
        if fs.kind not in STEP_KINDS:
            raise ValueError(f"funnel step {i} has unknown kind {fs.kind!r}; expected one of {', '.join(STEP_KINDS)}")
        if not fs.value:
            raise ValueError(f"funnel step {i} needs a value")
    if within <= timedelta(0):
        raise ValueError("the conversion window must be positive")


def progress(
    journey: Sequence[Step], steps: Sequence[FunnelStep], *, within: timedelta, since: datetime, until: datetime
) -> list[datetime]:
    """The times one customer reached each funnel step, as far as they got (empty when they never entered)."""
    ordered = order_steps(journey)
    times: list[datetime] = []
    for s in ordered:
        if not times:
            if since <= s.at < until and matches(steps[0], s):
                times.append(s.at)
                if len(steps) == 1:
                    break
            continue
        if s.at > times[0] + within:
            break
        if s.at > times[-1] and matches(steps[len(times)], s):
            times.append(s.at)
            if len(times) == len(steps):
                break
    return times


def funnel(
    journeys: Mapping[str, Sequence[Step]],
    steps: Sequence[FunnelStep],
    *,
    within: timedelta,
    since: datetime,
    until: datetime,
) -> FunnelResult:
    """The funnel over all journeys (see the module docstring)."""
    check_funnel(steps, within)
    entered = [0] * len(steps)
    durations: list[list[float]] = [[] for _ in steps]
    for journey in journeys.values():
        times = progress(journey, steps, within=within, since=since, until=until)
        for k, t in enumerate(times):
            entered[k] += 1
            if k:
                durations[k].append((t - times[k - 1]).total_seconds())
    results: list[StepResult] = []
    for k, fs in enumerate(steps):
        rate = entered[k] / entered[k - 1] if k and entered[k - 1] else None
        median = statistics.median(durations[k]) if durations[k] else None
        drop = entered[k] - entered[k + 1] if k + 1 < len(steps) else 0
        results.append(StepResult(fs, entered[k], rate, median, drop))
    overall = entered[-1] / entered[0] if entered[0] else None
    return FunnelResult(results, overall)
