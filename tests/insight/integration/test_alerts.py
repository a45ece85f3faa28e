"""Alerts fire on a topic rising above its own baseline, with evidence, and stay quiet on ordinary noise."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.insight.integration.conftest import Stack, Tenant

START = datetime(2026, 3, 1, 9, tzinfo=UTC)
BILLING = "I was charged twice on my invoice this month"
OTHER = "Great service, thanks a lot"


def day(n: int, text: str, count: int) -> list[dict[str, Any]]:
    return [{"text": text, "occurred_at": (START + timedelta(days=n, minutes=i)).isoformat()} for i in range(count)]


async def alerts_of(t: Tenant, *, wait_for: str | None = None, timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = (await t.client.get("/v1/insights/alerts")).json()["alerts"]
        if wait_for is None or any(a["key"] == wait_for for a in found):
            return found  # type: ignore[no-any-return]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no alert on {wait_for} within {timeout}s: {found}")
        await asyncio.sleep(0.25)


async def test_a_planted_spike_raises_one_alert_with_its_evidence(stack: Stack) -> None:
    t = await stack.tenant()
    items = [x for n in range(28) for x in day(n, BILLING, 1) + day(n, OTHER, 9)]
    items += day(28, BILLING, 20) + day(28, OTHER, 10)
    await t.all_analysed(await t.batch(items))
    found = await alerts_of(t, wait_for="billing")
    billing = [a for a in found if a["key"] == "billing" and a["kind"] == "volume_spike"]
    assert len(billing) == 1
    alert = billing[0]
    evidence = alert["evidence"]
    assert alert["status"] == "open" and alert["severity"] in ("medium", "high")
    assert evidence["observed"] == 20 and evidence["expected"] < 5
    assert evidence["p_value"] < evidence["threshold"]
    assert evidence["window"]["from"].startswith("2026-03-29")
    assert 1 <= len(evidence["sample_feedback_ids"]) <= 5
    sample = (await t.client.get(f"/v1/insights/feedback/{evidence['sample_feedback_ids'][0]}")).json()
    assert "billing" in [x["topic"] for x in sample["topics"]]
    await stack.insight.detector.round()  # a repeated round raises nothing new
    assert len([a for a in await alerts_of(t) if a["key"] == "billing"]) == 1
    ack = await t.client.post(f"/v1/insights/alerts/{alert['id']}/acknowledge")
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    listed = (await t.client.get("/v1/insights/alerts", params={"status": "acknowledged"})).json()["alerts"]
    assert [a["id"] for a in listed] == [alert["id"]]


async def test_ordinary_noise_raises_no_topic_alert(stack: Stack) -> None:
    t = await stack.tenant()
    items = [x for n in range(29) for x in day(n, BILLING, 1 + n % 3) + day(n, OTHER, 8 + n % 4)]
    await t.all_analysed(await t.batch(items))
    await stack.insight.detector.round()
    await asyncio.sleep(1.0)
    assert [
        a for a in await alerts_of(t) if a["kind"] in ("volume_spike", "negativity_rise") and a["key"] != "all"
    ] == []


async def test_alerts_are_a_tenants_own(stack: Stack) -> None:
    a, b = await stack.tenant(), await stack.tenant()
    items = [x for n in range(28) for x in day(n, BILLING, 1) + day(n, OTHER, 9)] + day(28, BILLING, 20)
    await a.all_analysed(await a.batch(items))
    [alert, *_] = await alerts_of(a, wait_for="billing")
    assert await alerts_of(b) == []
    assert (await b.client.post(f"/v1/insights/alerts/{alert['id']}/acknowledge")).status_code == 404
