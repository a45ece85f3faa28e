"""A planted friction stage ranks first with its evidence and money at stake; an unhappy customer is at risk with
reasons; erasure reaches journey."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.journey.integration.conftest import Stack, Tenant

NOW = datetime.now(UTC).replace(microsecond=0)


def step(key: str, name: str, ago: timedelta) -> dict[str, Any]:
    return {"customer_id": key, "name": name, "occurred_at": (NOW - ago).isoformat()}


async def feedback(t: Tenant, key: str, ago: timedelta, **body: Any) -> str:
    response = await t.client.post(
        "/v1/feedback",
        json={"channel": "survey", "customer": {"id": key}, "occurred_at": (NOW - ago).isoformat(), **body},
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_a_planted_friction_stage_is_ranked_first_with_its_evidence(stack: Stack) -> None:
    t = await stack.tenant()
    d = timedelta(days=1)
    items = []
    for i in range(30):  # most customers sail through onboarding to usage and are happy
        k = f"ok-{i}"
        items += [step(k, "page_viewed", 20 * d), step(k, "order_placed", 19 * d), step(k, "signup_completed", 18 * d),
                  step(k, "login", 17 * d), step(k, "feature_used", 2 * d)]  # fmt: skip
    for i in range(12):  # a cohort stuck in onboarding for two weeks, unhappy, each worth 1,000
        k = f"stuck-{i}"
        items += [step(k, "page_viewed", 20 * d), step(k, "order_placed", 19 * d), step(k, "signup_completed", 16 * d)]
    await t.interactions(items)
    for i in range(12):
        assert (await t.client.put(f"/v1/customers/stuck-{i}", json={"value": 1000})).status_code == 200
    sent = [await feedback(t, f"stuck-{i}", 15 * d, scores={"nps": 2}, touchpoint="onboarding") for i in range(12)]
    sent += [await feedback(t, f"ok-{i}", 3 * d, scores={"nps": 10}) for i in range(10)]
    await t.settled(len(items) + len(sent))
    body = (await t.client.get("/v1/journeys/friction")).json()
    top = body["friction"][0]
    assert (top["kind"], top["key"]) == ("stage", "onboarding")
    assert top["abandonment_rate"] and top["abandonment_rate"] > 0.2
    assert top["value_at_stake"] == 12_000.0
    assert top["evidence"]
    stages = {s["stage"]: s for s in (await t.client.get("/v1/journeys/stages")).json()["stages"]}
    assert stages["onboarding"]["abandoned"] == 12 and stages["onboarding"]["detractors"] == 12
    assert stages["onboarding"]["friction_score"] == 1.0
    assert await stack.journey.friction.detect(uuid.UUID(t.id)) >= 1


async def test_an_unhappy_customer_is_at_risk_with_the_reasons(stack: Stack) -> None:
    t = await stack.tenant()
    d = timedelta(days=1)
    calm = [step("calm", "signup_completed", 10 * d), step("calm", "login", d)]
    names = ("signup_completed", "ticket_opened", "ticket_opened", "ticket_opened")
    angry = [step("angry", name, ago * d) for name, ago in zip(names, (10, 6, 4, 2), strict=True)]
    await t.interactions([*calm, *angry])
    assert (await t.client.put("/v1/customers/angry", json={"value": 5000})).status_code == 200
    text = "Third ticket this week. Cancel my account now, I am switching to your competitor."
    text = "Third ticket this week. Cancel my account now, I am switching to your competitor."
    fid = await feedback(t, "angry", d, scores={"nps": 1}, text=text)
    await t.timeline("angry", steps=5)
    for _ in range(300):
        at_risk = (await t.client.get("/v1/journeys/at-risk")).json()
        if at_risk["customers"]:
            break
        await asyncio.sleep(0.1)
    [angry] = at_risk["customers"]
    assert angry["level"] == "high" and angry["value"] == 5000.0
    signals = {r["signal"] for r in angry["reasons"]}
    assert {"churn_threat", "recent_detractor", "repeated_contacts"} <= signals
    timeline = await t.timeline("angry", steps=5)
    assert timeline["churn_risk"]["level"] == "high"
    assert any(s["feedback_id"] == fid and s["intent"] == "churn_threat" for s in timeline["steps"])
    calm = await t.timeline("calm", steps=2)
    assert calm["churn_risk"]["level"] == "low"


async def test_erasure_reaches_journey(stack: Stack) -> None:
    t = await stack.tenant()
    await t.interactions([step("bye", "signup_completed", timedelta(days=2)), step("bye", "login", timedelta(days=1))])
    timeline = await t.timeline("bye", steps=2)
    erasure = await t.client.delete("/v1/customers/bye")
    assert erasure.status_code == 202
    for _ in range(300):
        status = (await t.client.get(f"/v1/erasures/{erasure.json()['erasure_id']}")).json()
        if status["services"].get("journey"):
            break
        await asyncio.sleep(0.1)
    assert status["services"]["journey"] is not None
    after = (await t.client.get(f"/v1/journeys/customers/{timeline['customer_id']}")).json()
    assert after["erased"] is True and after["steps"] == []
