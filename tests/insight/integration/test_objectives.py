"""Shared objectives are tracked over time; drifting off target raises an alert."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.insight.integration.conftest import Stack

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
NPS_40 = {"id": "nps-40", "name": "NPS at least 40", "metric": "nps", "comparator": ">=", "target": 40, "window": "7d"}


def answers(day: int, nps: int, count: int) -> list[dict[str, Any]]:
    return [
        {"scores": {"nps": nps}, "occurred_at": (T0 + timedelta(days=day, minutes=i)).isoformat()} for i in range(count)
    ]


async def test_an_objective_drifting_off_target_raises_an_alert(stack: Stack) -> None:
    t = await stack.tenant()
    saved = await t.client.put("/v1/insights/objectives", json={"objectives": [NPS_40]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1
    items = [x for d in range(21) for x in answers(d, 10, 8)] + [x for d in range(21, 28) for x in answers(d, 2, 8)]
    await t.all_analysed(await t.batch(items))
    body = (await t.client.get("/v1/insights/objectives")).json()
    [objective] = body["objectives"]
    status = objective["status"]
    assert status["on_target"] is False and status["current"] == -100.0 and status["drifted"] is True
    for _ in range(200):
        alerts = (await t.client.get("/v1/insights/alerts")).json()["alerts"]
        drift = [a for a in alerts if a["kind"] == "objective_drift"]
        if drift:
            break
        await asyncio.sleep(0.1)
    assert [a["key"] for a in drift] == ["nps-40"]
    assert drift[0]["evidence"]["objective"]["target"] == 40


async def test_objectives_are_validated_and_versioned(stack: Stack) -> None:
    t = await stack.tenant()
    assert (await t.client.get("/v1/insights/objectives")).json() == {"version": 0, "objectives": []}
    bad: list[Any] = [
        {"objectives": [{**NPS_40, "metric": "happiness"}]},
        {"objectives": [{**NPS_40, "comparator": "=="}]},
        {"objectives": [{**NPS_40, "target": 500}]},
        {"objectives": [NPS_40, NPS_40]},
        {"objectives": [{**NPS_40, "filters": {"topic": "billing", "channel": "chat"}}]},
    ]
    for body in bad:
        response = await t.client.put("/v1/insights/objectives", json=body)
        assert response.status_code == 422, (body, response.text)
    ok = await t.client.put(
        "/v1/insights/objectives",
        json={"objectives": [NPS_40, {"id": "billing-neg", "metric": "negative_share", "comparator": "<=",
                                      "target": 15, "filters": {"topic": "billing"}}]},
    )  # fmt: skip
    assert ok.status_code == 200 and ok.json()["version"] == 1
    again = await t.client.put("/v1/insights/objectives", json={"objectives": [NPS_40]})
    assert again.json()["version"] == 2 and len(again.json()["objectives"]) == 1
