"""Did the improvement work? Difference-in-differences with a cluster bootstrap, revenue at risk, and recovery.

`measure` compares the units the improvement touched (treated, e.g. feedback about the fixed topic) with the others
(control), before and after the pivot (the fix's release), by event time:
before = [pivot − window, pivot), after = [pivot, pivot + window). Per observation, a metric is
- detractor_share: 1 for an NPS answer of 0–6, 0 for 7–10 (a share, 0…1);
- nps: +100 for 9–10, 0 for 7–8, −100 for 0–6 (so a cell's mean is its NPS, −100…100);
- csat: 100 for a CSAT answer of 4–5, 0 for 1–3 (a cell's mean is its % satisfied);
- negative_share: 1 for negative feedback, 0 otherwise (a share, 0…1);
observations without the metric's answer are left out. A cell's value is the mean over its observations, and

    did = (treated_after − treated_before) − (control_after − control_before)

so a change the control also saw (seasonality, a product-wide shift) is taken out; for shares and detractors a
negative did means the improvement helped, for nps and csat a positive one.

The confidence interval is a percentile cluster bootstrap: within each cell, units are resampled with replacement
(all of a unit's observations together, since one customer's answers are not independent), the four cell means are
recomputed and so is did. It needs at least `min_per_cell` units in every cell; otherwise the point estimates stand
(where the cells are not empty) with no interval, and `reason` says which cells were short. `significant` means the
interval excludes zero.

Revenue at risk in a window: the summed value of the distinct treated units with a detractor (NPS 0–6), a
dissatisfied answer (CSAT 1–2) or negative feedback there; a unit's value is its latest value seen in the window.
None when no treated observation in the window carries a value.

`recovered` says whether a followed-up customer came back satisfied: their first feedback after the follow-up
(scored or with a sentiment) is judged by its NPS when it has one (7–10: recovered), else its CSAT (4–5), else its
sentiment (not negative). None when nothing has come since.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

METRICS = ("detractor_share", "nps", "csat", "negative_share")
CELLS = ("treated_before", "treated_after", "control_before", "control_after")
DETRACTOR_MAX = 6
PROMOTER_MIN = 9
PASSIVE_MIN = 7
SATISFIED_MIN = 4
DISSATISFIED_MAX = 2
# Bound on the index matrix drawn at once (resamples × units) so that large cells are bootstrapped in chunks.
_MAX_DRAWS = 2_000_000


@dataclass(frozen=True)
class Observation:
    """One answer by a unit (a customer id, or a feedback id) at an event time, treated or not by the improvement."""

    unit: str
    at: datetime
    treated: bool
    nps: int | None = None
    csat: int | None = None
    negative: bool | None = None
    value: float | None = None


@dataclass(frozen=True)
class Impact:
    """An improvement's measured effect on one metric (see the module docstring).

    n holds, per cell, the observations with the metric ("treated_before", …) and the units ("treated_before_units").
    """

    metric: str
    treated_before: float | None
    treated_after: float | None
    control_before: float | None
    control_after: float | None
    before_after: float | None
    did: float | None
    ci_low: float | None
    ci_high: float | None
    significant: bool
    n: dict[str, int]
    revenue_at_risk_before: float | None
    revenue_at_risk_after: float | None
    reason: str | None


def metric_value(o: Observation, metric: str) -> float | None:
    """An observation's contribution to a metric, or None when it did not answer it."""
    if metric == "detractor_share":
        return None if o.nps is None else float(o.nps <= DETRACTOR_MAX)
    if metric == "nps":
        if o.nps is None:
            return None
        return 100.0 if o.nps >= PROMOTER_MIN else -100.0 if o.nps <= DETRACTOR_MAX else 0.0
    if metric == "csat":
        return None if o.csat is None else 100.0 * (o.csat >= SATISFIED_MIN)
    if metric == "negative_share":
        return None if o.negative is None else float(o.negative)
    raise ValueError(f"unknown metric {metric!r} (metrics: {', '.join(METRICS)})")


def is_unhappy(o: Observation) -> bool:
    """Whether an observation is a detractor, a dissatisfied answer or negative feedback."""
    return (
        (o.nps is not None and o.nps <= DETRACTOR_MAX)
        or (o.csat is not None and o.csat <= DISSATISFIED_MAX)
        or o.negative is True
    )


@dataclass(frozen=True)
class _Cell:
    """One cell's metric values summed and counted per unit."""

    sums: npt.NDArray[np.float64]
    counts: npt.NDArray[np.float64]

    @property
    def units(self) -> int:
        """Distinct units in the cell."""
        return len(self.sums)

    @property
    def observations(self) -> int:
        """Observations in the cell."""
        return int(self.counts.sum())

    @property
    def mean(self) -> float | None:
        """The cell's metric, or None when empty."""
        return float(self.sums.sum() / self.counts.sum()) if self.units else None


def _cell(pairs: list[tuple[str, float]]) -> _Cell:
    """A cell from (unit, value) pairs, units in name order so that resampling is reproducible."""
    per_unit: dict[str, list[float]] = {}
    for unit, v in pairs:
        per_unit.setdefault(unit, [0.0, 0.0])
        per_unit[unit][0] += v
        per_unit[unit][1] += 1.0
    units = sorted(per_unit)
    return _Cell(
        np.array([per_unit[u][0] for u in units], dtype=np.float64),
        np.array([per_unit[u][1] for u in units], dtype=np.float64),
    )


def _boot(cell: _Cell, rng: np.random.Generator, resamples: int) -> npt.NDArray[np.float64]:
    """The cell's mean in each of `resamples` resamplings of its units with replacement."""
    out = np.empty(resamples, dtype=np.float64)
    chunk = max(1, _MAX_DRAWS // max(1, cell.units))
    for start in range(0, resamples, chunk):
        k = min(chunk, resamples - start)
        idx = rng.integers(0, cell.units, size=(k, cell.units))
        out[start : start + k] = cell.sums[idx].sum(axis=1) / cell.counts[idx].sum(axis=1)
    return out


def _revenue(observations: Iterable[Observation]) -> float | None:
    """Summed latest value of the distinct units with an unhappy observation; None when no value is known."""
    latest: dict[str, tuple[datetime, float]] = {}
    unhappy: set[str] = set()
    for o in observations:
        if o.value is not None and math.isfinite(o.value) and (o.unit not in latest or o.at >= latest[o.unit][0]):
            latest[o.unit] = (o.at, float(o.value))
        if is_unhappy(o):
            unhappy.add(o.unit)
    if not latest:
        return None
    return float(sum(latest[u][1] for u in unhappy if u in latest))


def _diff(after: float | None, before: float | None) -> float | None:
    """after − before, or None when either is missing."""
    return None if after is None or before is None else after - before


def _check(metric: str, window: timedelta, resamples: int, confidence: float, min_per_cell: int) -> None:
    """Refuse arguments that cannot give a meaningful measurement."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (metrics: {', '.join(METRICS)})")
    if window <= timedelta(0):
        raise ValueError("window must be positive")
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    if min_per_cell < 2:
        raise ValueError("min_per_cell must be at least 2")


def _why_no_interval(cells: dict[str, _Cell], min_per_cell: int) -> str | None:
    """Why the cells cannot carry a confidence interval, or None when they can."""
    empty = [name for name in CELLS if cells[name].units == 0]
    if empty:
        return "no observations with the metric in " + ", ".join(c.replace("_", " ") for c in empty)
    short = [f"{name.replace('_', ' ')} {cells[name].units}" for name in CELLS if cells[name].units < min_per_cell]
    if short:
        return f"too few units for a confidence interval (need {min_per_cell} per cell): " + ", ".join(short)
    return None


def measure(
    observations: Sequence[Observation],
    *,
    metric: str,
    pivot: datetime,
    window: timedelta,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_per_cell: int = 10,
) -> Impact:
    """The improvement's effect on `metric` around `pivot` (see the module docstring)."""
    _check(metric, window, resamples, confidence, min_per_cell)
    start, end = pivot - window, pivot + window
    pairs: dict[str, list[tuple[str, float]]] = {name: [] for name in CELLS}
    treated_in: dict[str, list[Observation]] = {"before": [], "after": []}
    for o in observations:
        if not start <= o.at < end:
            continue
        period = "before" if o.at < pivot else "after"
        if o.treated:
            treated_in[period].append(o)
        v = metric_value(o, metric)
        if v is not None:
            pairs[f"{'treated' if o.treated else 'control'}_{period}"].append((o.unit, v))
    cells = {name: _cell(pairs[name]) for name in CELLS}
    tb, ta, cb, ca = (cells[name].mean for name in CELLS)
    before_after = _diff(ta, tb)
    control_change = _diff(ca, cb)
    did = None if before_after is None or control_change is None else before_after - control_change
    reason = _why_no_interval(cells, min_per_cell)
    ci_low = ci_high = None
    if reason is None:
        rng = np.random.default_rng(seed)
        d = {name: _boot(cells[name], rng, resamples) for name in CELLS}
        draws = (d["treated_after"] - d["treated_before"]) - (d["control_after"] - d["control_before"])
        alpha = 1.0 - confidence
        low, high = np.quantile(draws, [alpha / 2, 1.0 - alpha / 2])
        ci_low, ci_high = float(low), float(high)
    n = {name: cells[name].observations for name in CELLS} | {f"{name}_units": cells[name].units for name in CELLS}
    return Impact(
        metric=metric,
        treated_before=tb,
        treated_after=ta,
        control_before=cb,
        control_after=ca,
        before_after=before_after,
        did=did,
        ci_low=ci_low,
        ci_high=ci_high,
        significant=ci_low is not None and ci_high is not None and (ci_low > 0.0 or ci_high < 0.0),
        n=n,
        revenue_at_risk_before=_revenue(treated_in["before"]),
        revenue_at_risk_after=_revenue(treated_in["after"]),
        reason=reason,
    )


def recovered(followed_up_at: datetime, later: Sequence[Observation]) -> bool | None:
    """Whether the customer's first feedback after the follow-up is satisfied (see the module docstring)."""
    since = sorted(
        (o for o in later if o.at > followed_up_at and (o.nps, o.csat, o.negative) != (None, None, None)),
        key=lambda o: o.at,
    )
    if not since:
        return None
    first = since[0]
    if first.nps is not None:
        return first.nps >= PASSIVE_MIN
    if first.csat is not None:
        return first.csat >= SATISFIED_MIN
    return first.negative is False


def recovery_rate(results: Iterable[bool | None]) -> float | None:
    """The share of recovered customers among those with an answer (None results are left out); None if none."""
    known = [r for r in results if r is not None]
    return sum(known) / len(known) if known else None
