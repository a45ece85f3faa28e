"""Objectives are parsed strictly and evaluated for target, trend and drift."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cxm_insight.domain.objectives import Objective, evaluate, parse_objectives

START = datetime(2025, 1, 6, tzinfo=UTC)
NPS_30 = Objective("nps-30", "nps", ">=", 30.0, {"channel": "email"}, "7d", "NPS at least 30")


def weekly(*values: float | None, count: int = 200) -> list[tuple[datetime, float | None, int]]:
    return [(START + timedelta(days=7 * i), value, count) for i, value in enumerate(values)]


def test_objectives_parse_with_defaults() -> None:
    parsed = parse_objectives(
        {
            "objectives": [
                {"id": "nps-30", "metric": "nps", "comparator": ">=", "target": 30, "filters": {"channel": "email"}},
                {"id": "ces", "metric": "ces", "comparator": "<=", "target": 2.5, "window": "30d", "name": "Easy"},
            ]
        }
    )

    assert parsed[0] == Objective("nps-30", "nps", ">=", 30.0, {"channel": "email"}, "7d", "nps-30")
    assert parsed[1].window == "30d" and parsed[1].name == "Easy" and parsed[1].filters == {}
    assert parse_objectives([o.to_dict() for o in parsed]) == parsed


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"metric": "nps", "comparator": ">=", "target": 1}, r"objectives\[0\]\.id: required"),
        ({"id": "x", "metric": "joy", "comparator": ">=", "target": 1}, r"\.metric: must be one of"),
        ({"id": "x", "metric": "nps", "comparator": ">", "target": 1}, r"\.comparator: must be '>=' or '<='"),
        (
            {"id": "x", "metric": "nps", "comparator": ">=", "target": 150},
            r"\.target: nps targets must lie in -100…100",
        ),
        ({"id": "x", "metric": "csat", "comparator": ">=", "target": "80"}, r"\.target: must be a number"),
        ({"id": "x", "metric": "csat", "comparator": ">=", "target": True}, r"\.target: must be a number"),
        ({"id": "x", "metric": "nps", "comparator": ">=", "target": 1, "window": "1d"}, r"\.window: must be one of"),
        ({"id": "x", "metric": "nps", "comparator": ">=", "target": 1, "filters": {"agent": "a"}}, r"filters\.agent"),
        ({"id": "x", "metric": "nps", "comparator": ">=", "target": 1, "filters": {"topic": 3}}, r"filters\.topic"),
        ({"id": "", "metric": "nps", "comparator": ">=", "target": 1}, r"\.id: must be a non-empty string"),
        ({"id": "x", "metric": "nps", "comparator": ">=", "target": 1, "owner": "me"}, r"unknown field\(s\) owner"),
        ("nps >= 30", r"objectives\[0\]: must be an object"),
    ],
)
def test_bad_objectives_are_refused_saying_where(item: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_objectives([item])


def test_duplicate_ids_and_non_lists_are_refused() -> None:
    item = {"id": "x", "metric": "nps", "comparator": ">=", "target": 1}
    with pytest.raises(ValueError, match=r"objectives\[1\]\.id: duplicate id 'x'"):
        parse_objectives([item, item])
    with pytest.raises(ValueError, match="must be a list"):
        parse_objectives({"id": "x"})


def test_an_objective_met_and_steady_has_not_drifted() -> None:
    status = evaluate(NPS_30, weekly(35, 36, 34, 35, 36))

    assert status.on_target is True
    assert status.current == 36
    assert status.gap == pytest.approx(6.0)
    assert status.trend == "flat"
    assert not status.drifted


def test_dropping_off_target_is_drift() -> None:
    status = evaluate(NPS_30, weekly(38, 36, 34, 32, 27))

    assert status.on_target is False
    assert status.gap == pytest.approx(-3.0)
    assert status.drifted
    assert status.trend == "worsening"
    assert status.slope is not None and status.slope < 0


def test_staying_off_target_for_several_windows_is_drift() -> None:
    assert evaluate(NPS_30, weekly(20, 22, 21, 22)).drifted
    assert not evaluate(NPS_30, weekly(35, 22, 25, 33)).drifted
    assert not evaluate(NPS_30, weekly(20, 21)).drifted, "two windows off since the start is not yet a streak"


def test_thin_windows_are_not_judged() -> None:
    series = [*weekly(35, 36, 37), (START + timedelta(days=21), 5.0, 4)]

    status = evaluate(NPS_30, series)

    assert status.on_target is True
    assert status.current == 37
    assert not status.drifted
    assert status.evidence["latest_window_too_thin"] == (START + timedelta(days=21)).isoformat()


def test_at_most_objectives_improve_by_going_down() -> None:
    effort = Objective("ces", "ces", "<=", 3.0, {}, "30d", "Effort")

    status = evaluate(effort, weekly(3.9, 3.6, 3.3, 3.0, 2.7))

    assert status.on_target is True
    assert status.trend == "improving"


def test_no_data_means_no_verdict() -> None:
    status = evaluate(NPS_30, weekly(None, 50, count=3))

    assert status.on_target is None
    assert status.current is None
    assert status.trend == "unknown"
    assert not status.drifted


def test_volume_objectives_judge_every_window() -> None:
    tickets = Objective("volume", "volume", "<=", 100.0, {"topic": "billing"}, "7d", "Billing tickets")

    assert evaluate(tickets, weekly(80, 90, 120, count=80)).drifted
