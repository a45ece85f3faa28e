"""Shared objectives: a target on a metric for a slice of feedback, and whether it is met, trending, drifting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from cxm_insight.domain.metrics import METRIC_RANGES, METRICS

COMPARATORS = (">=", "<=")
WINDOWS = {"7d": 7, "30d": 30}
FILTER_KEYS = ("topic", "channel", "segment")
MIN_WINDOW_COUNT = 30
OFF_TARGET_WINDOWS = 3
# A trend's slope must be this many standard errors from zero to be called improving or worsening.
TREND_Z = 2.0
_ID_MAX = 64
_NAME_MAX = 200


@dataclass(frozen=True, slots=True)
class Objective:
    """A shared target: `metric comparator target` over the feedback matching the filters, per window."""

    id: str
    metric: str
    comparator: str
    target: float
    filters: dict[str, str] = field(default_factory=dict)
    window: str = "7d"
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The objective as `parse_objectives` reads it."""
        return {
            "id": self.id,
            "metric": self.metric,
            "comparator": self.comparator,
            "target": self.target,
            "filters": dict(self.filters),
            "window": self.window,
            "name": self.name,
        }

    def met_by(self, value: float) -> bool:
        """Whether a value meets the target."""
        return value >= self.target if self.comparator == ">=" else value <= self.target


@dataclass(frozen=True, slots=True)
class ObjectiveStatus:
    """Where an objective stands: met or not, by how much, which way it is heading, whether it drifted."""

    objective_id: str
    on_target: bool | None
    current: float | None
    target: float
    gap: float | None
    trend: str
    slope: float | None
    drifted: bool
    evidence: dict[str, Any] = field(default_factory=dict)


def parse_objectives(data: Any) -> list[Objective]:
    """Objectives from decoded JSON/YAML: a list of objects, or an object with an `objectives` list.

    Each needs `id`, `metric`, `comparator` (>= or <=) and `target` (in the metric's range); `filters` (topic,
    channel, segment), `window` (7d or 30d, default 7d) and `name` (default the id) are optional. Anything else
    is a ValueError naming where it is.
    """
    if isinstance(data, dict) and set(data) == {"objectives"}:
        data = data["objectives"]
    if not isinstance(data, list):
        raise ValueError("objectives must be a list (or an object with an 'objectives' list)")
    objectives = [_parse_one(item, f"objectives[{index}]") for index, item in enumerate(data)]
    seen: set[str] = set()
    for index, objective in enumerate(objectives):
        if objective.id in seen:
            raise ValueError(f"objectives[{index}].id: duplicate id {objective.id!r}")
        seen.add(objective.id)
    return objectives


def _parse_one(item: Any, where: str) -> Objective:
    """One objective, or a ValueError prefixed with where it is."""
    if not isinstance(item, dict):
        raise ValueError(f"{where}: must be an object")
    allowed = {"id", "metric", "comparator", "target", "filters", "window", "name"}
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for required in ("id", "metric", "comparator", "target"):
        if required not in item:
            raise ValueError(f"{where}.{required}: required")
    identifier = item["id"]
    if not isinstance(identifier, str) or not identifier.strip() or len(identifier) > _ID_MAX:
        raise ValueError(f"{where}.id: must be a non-empty string of at most {_ID_MAX} characters")
    metric = item["metric"]
    if metric not in METRICS:
        raise ValueError(f"{where}.metric: must be one of {', '.join(METRICS)}")
    comparator = item["comparator"]
    if comparator not in COMPARATORS:
        raise ValueError(f"{where}.comparator: must be '>=' or '<='")
    target = item["target"]
    low, high = METRIC_RANGES[metric]
    if isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target):
        raise ValueError(f"{where}.target: must be a number")
    if not low <= target <= high:
        raise ValueError(f"{where}.target: {metric} targets must lie in {low:g}…{high:g}")
    filters = item.get("filters") or {}
    if not isinstance(filters, dict):
        raise ValueError(f"{where}.filters: must be an object")
    for key, value in filters.items():
        if key not in FILTER_KEYS:
            raise ValueError(f"{where}.filters.{key}: filters are {', '.join(FILTER_KEYS)}")
        if not isinstance(value, str) or not value:
            raise ValueError(f"{where}.filters.{key}: must be a non-empty string")
    window = item.get("window", "7d")
    if window not in WINDOWS:
        raise ValueError(f"{where}.window: must be one of {', '.join(WINDOWS)}")
    name = item.get("name", identifier)
    if not isinstance(name, str) or not name.strip() or len(name) > _NAME_MAX:
        raise ValueError(f"{where}.name: must be a non-empty string of at most {_NAME_MAX} characters")
    return Objective(identifier, metric, comparator, float(target), dict(filters), window, name)


def evaluate(
    objective: Objective,
    series: Sequence[tuple[datetime, float | None, int]],
    *,
    min_count: int = MIN_WINDOW_COUNT,
    off_target_windows: int = OFF_TARGET_WINDOWS,
) -> ObjectiveStatus:
    """An objective's status from its series of windows: (window start, the metric over it, feedback counted).

    Windows with fewer than `min_count` feedback (or no value) are too thin to judge and are skipped (volume
    objectives judge every window). The current value is the latest judged window's; gap = current − target
    (positive is above the target). It drifted when the latest judged window is off target and the judged one
    before it was on target, or when the last `off_target_windows` judged windows are all off target. The trend
    is the least-squares slope of the judged values per window, improving or worsening only when it is at least
    two standard errors from zero.
    """
    ordered = sorted(series, key=lambda item: item[0])
    needed = 0 if objective.metric == "volume" else min_count
    judged = [(start, value, count) for start, value, count in ordered if value is not None and count >= needed]
    latest = ordered[-1] if ordered else None
    evidence: dict[str, Any] = {
        "windows": len(ordered),
        "judged_windows": len(judged),
        "min_count": needed,
        "window": objective.window,
    }
    if latest is not None and (latest[1] is None or latest[2] < needed):
        evidence["latest_window_too_thin"] = latest[0].isoformat()
    slope, direction = _trend(objective, [value for _, value, _ in judged])
    if not judged:
        return ObjectiveStatus(objective.id, None, None, objective.target, None, direction, slope, False, evidence)
    hits = [objective.met_by(value) for _, value, _ in judged]
    current = judged[-1][1]
    on_target = hits[-1]
    dropped_off = not on_target and len(hits) >= 2 and hits[-2]
    stayed_off = len(hits) >= off_target_windows and not any(hits[-off_target_windows:])
    evidence["judged_window_start"] = judged[-1][0].isoformat()
    evidence["off_target_streak"] = _streak(hits)
    return ObjectiveStatus(
        objective_id=objective.id,
        on_target=on_target,
        current=current,
        target=objective.target,
        gap=current - objective.target,
        trend=direction,
        slope=slope,
        drifted=dropped_off or stayed_off,
        evidence=evidence,
    )


def _streak(hits: Sequence[bool]) -> int:
    """How many of the latest windows in a row missed the target."""
    streak = 0
    for hit in reversed(hits):
        if hit:
            break
        streak += 1
    return streak


def _trend(objective: Objective, values: Sequence[float]) -> tuple[float | None, str]:
    """Slope per window of the values and whether it is improving, worsening, flat, or unknown (under 3 points)."""
    if len(values) < 3:
        return None, "unknown"
    y = np.asarray(values, dtype=np.float64)
    x = np.arange(y.size, dtype=np.float64)
    x -= x.mean()
    slope = float(x @ (y - y.mean()) / (x @ x))
    residuals = y - y.mean() - slope * x
    variance = float(residuals @ residuals) / (y.size - 2)
    standard_error = math.sqrt(variance / float(x @ x))
    if abs(slope) <= TREND_Z * standard_error or slope == 0:
        return slope, "flat"
    better = slope > 0 if objective.comparator == ">=" else slope < 0
    return slope, "improving" if better else "worsening"
