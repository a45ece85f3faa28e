"""Journeys through the gateway: timelines in event order, exact paths, funnels and repeat contacts, the same
result whatever order events arrive in, stage-map changes re-derived, erasure confirmed."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cxm_common.db import driver, set_tenant
from cxm_common.envelope import Envelope
from cxm_journey import contracts as c
from cxm_journey.projections import apply_many
from tests.journey.integration.conftest import Stack, Tenant

T0 = (datetime.now(UTC) - timedelta(days=20)).replace(hour=9, minute=0, second=0, microsecond=0)


def step(key: str, name: str, offset: timedelta) -> dict[str, Any]:
    return {"customer_id": key, "name": name, "occurred_at": (T0 + offset).isoformat(), "channel": "web"}


def population(prefix: str) -> list[dict[str, Any]]:
    """20 customers with scripted journeys whose paths, funnel and repeat contacts are known."""
    d, h = timedelta(days=1), timedelta(hours=1)
    items = []
    for i in range(10):  # awareness → purchase → onboarding → usage
        k = f"{prefix}-a{i}"
        items += [step(k, "page_viewed", 0 * d), step(k, "checkout_started", d), step(k, "order_placed", d + h),
                  step(k, "signup_completed", 2 * d), step(k, "login", 3 * d)]  # fmt: skip
    for i in range(5):  # awareness → purchase, then nothing
        k = f"{prefix}-b{i}"
        items += [step(k, "page_viewed", 0 * d), step(k, "checkout_started", d + 2 * h)]
    for i in range(5):  # … → onboarding → support (twice within two days) → churned
        k = f"{prefix}-c{i}"
        items += [step(k, "page_viewed", 0 * d), step(k, "checkout_started", d), step(k, "order_placed", d + h),
                  step(k, "signup_completed", 2 * d), step(k, "ticket_opened", 4 * d),
                  step(k, "ticket_opened", 5 * d), step(k, "subscription_cancelled", 6 * d)]  # fmt: skip
    return items


EDGES = {
    ("awareness", "purchase"): 20,
    ("purchase", "onboarding"): 15,
    ("onboarding", "usage"): 10,
    ("onboarding", "support"): 5,
    ("support", "churned"): 5,
}
PERIOD = {"from": (T0 - timedelta(days=1)).isoformat(), "to": (T0 + timedelta(days=19)).isoformat()}
FUNNEL = {"steps": ["page_viewed", "checkout_started", "order_placed"], "within": "P7D", **PERIOD}


async def loaded(stack: Stack, *, shuffled: bool) -> Tenant:
    t = await stack.tenant()
    items = population("c")
    if shuffled:
        random.Random(5).shuffle(items)
        for start in range(0, len(items), 7):  # many small deliveries, out of order
            await t.interactions(items[start : start + 7])
    else:
        await t.interactions(items)
    await t.settled(len(items))
    return t


async def edges_of(t: Tenant) -> dict[tuple[str, str], int]:
    body = (await t.client.get("/v1/journeys/paths", params=PERIOD)).json()
    return {(e["from_stage"], e["to_stage"]): e["count"] for e in body["edges"]}


async def test_paths_funnel_and_repeat_contacts_are_exact_whatever_the_arrival_order(stack: Stack) -> None:
    ordered, shuffled = await loaded(stack, shuffled=False), await loaded(stack, shuffled=True)
    for t in (ordered, shuffled):
        assert await edges_of(t) == EDGES
        paths = (await t.client.get("/v1/journeys/paths", params=PERIOD)).json()["top_paths"]
        assert paths[0] == {"stages": ["awareness", "purchase", "onboarding", "usage"], "customers": 10}
        funnel = await t.client.post("/v1/journeys/funnels", json=FUNNEL)
        assert funnel.status_code == 200, funnel.text
        steps = funnel.json()["steps"]
        assert [s["entered"] for s in steps] == [20, 20, 15]
        assert [s["conversion_rate"] for s in steps] == [None, 1.0, 0.75]
        assert steps[2]["median_seconds_to_convert"] == 3600.0 and steps[1]["drop_off"] == 5
        body = (await t.client.get("/v1/journeys/stages", params=PERIOD)).json()
        support = next(s for s in body["stages"] if s["stage"] == "support")
        assert support["entries"] == 5 and support["repeat_contact_rate"] == 1.0  # every support visit saw a repeat
        fcr = body["first_contact_resolution"]
        assert (fcr["contacts"], fcr["repeated"], fcr["fcr_rate"]) == (10, 5, 0.5)
    a = (await ordered.client.get("/v1/journeys/stages", params=PERIOD)).json()["stages"]
    b = (await shuffled.client.get("/v1/journeys/stages", params=PERIOD)).json()["stages"]
    assert _without_value(a) == _without_value(b)


def _without_value(stages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in s.items() if k != "value_at_stake"} for s in stages]


async def test_a_late_event_lands_in_its_place_on_the_timeline(stack: Stack) -> None:
    t = await stack.tenant()
    d = timedelta(days=1)
    await t.interactions([step("late-1", "login", 3 * d), step("late-1", "signup_completed", 2 * d)])
    await t.timeline("late-1", steps=2)
    await t.interactions([step("late-1", "page_viewed", 0 * d)])
    timeline = await t.timeline("late-1", steps=3)
    assert [s["name"] for s in timeline["steps"]] == ["page_viewed", "signup_completed", "login"]
    assert [v["stage"] for v in timeline["visits"]] == ["awareness", "onboarding", "usage"]
    assert timeline["current_stage"] == "usage"


async def test_funnel_and_path_queries_refuse_bad_input(stack: Stack) -> None:
    t = await stack.tenant()
    bad: list[Any] = [
        {"steps": ["one"]},
        {"steps": ["a", "b"], "within": "seven days"},
        {"steps": ["a", "b"], "within": "P0D"},
        {"steps": [{"kind": "mood", "value": "x"}, "b"]},
        {"steps": ["a", "b"], "from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ]
    for body in bad:
        response = await t.client.post("/v1/journeys/funnels", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await t.client.get("/v1/journeys/paths", params={"from": "yesterday"})).status_code == 422
    assert (await t.client.get(f"/v1/journeys/customers/{T0.date()}")).status_code == 422


async def test_a_new_stage_map_is_applied_to_history(stack: Stack) -> None:
    t = await stack.tenant()
    d = timedelta(days=1)
    await t.interactions([step("m-1", "page_viewed", 0 * d), step("m-1", "signup_completed", d),
                          step("m-1", "login", 2 * d)])  # fmt: skip
    await t.timeline("m-1", steps=3)
    current = (await t.client.get("/v1/journeys/stage-map")).json()
    assert current["version"] == 1
    stages = [*current["stages"], "engaged"]
    rules = [{"stage": "engaged", "names": ["login"]}, *current["rules"]]
    saved = await t.client.put("/v1/journeys/stage-map", json={**_map_body(current), "stages": stages, "rules": rules})
    assert saved.status_code == 200, saved.text
    job = saved.json()["rederivation_id"]
    for _ in range(300):
        progress = (await t.client.get(f"/v1/journeys/stage-map/rederivations/{job}")).json()
        if progress["status"] == "done":
            break
        await asyncio.sleep(0.1)
    assert progress["status"] == "done" and progress["progress"] == 1.0
    timeline = await t.timeline("m-1", steps=3)
    assert timeline["current_stage"] == "engaged"
    assert (await edges_of(t)).get(("onboarding", "engaged")) == 1
    bad = await t.client.put("/v1/journeys/stage-map", json={**_map_body(current), "rules": [{"stage": "nowhere"}]})
    assert bad.status_code == 422


def _map_body(current: dict[str, Any]) -> dict[str, Any]:
    return {k: current[k] for k in ("stages", "rules", "support_stages", "terminal_stages", "steady_stages")}


async def test_tenants_never_see_each_others_journeys(stack: Stack) -> None:
    a, b = await stack.tenant(), await stack.tenant()
    await a.interactions([step("iso-1", "page_viewed", timedelta(0))])
    timeline = await a.timeline("iso-1", steps=1)
    assert (await b.client.get(f"/v1/journeys/customers/{timeline['customer_id']}")).status_code == 404
    assert (await b.client.get("/v1/journeys/paths", params=PERIOD)).json()["edges"] == []


async def test_a_step_recorded_twice_in_one_batch_keeps_the_later_analysis(stack: Stack) -> None:
    tenant, customer = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 3, 1, tzinfo=UTC)

    def analysed(sentiment: str, topics: list[str]) -> Envelope:
        data = {"customer_id": str(customer), "step_id": "f:1", "kind": "feedback", "name": "feedback_survey",
                "channel": "survey", "at": at.isoformat(), "stage": "support", "nps": 3,
                "sentiment": {"label": sentiment, "score": -0.5}, "topics": topics}  # fmt: skip
        return Envelope(type=c.STEP_RECORDED, source="journey", subject=str(customer), tenant_id=tenant, data=data)

    async with stack.journey.runtime.engine.begin() as conn:
        await set_tenant(conn, tenant)
        await apply_many(conn, [analysed("neutral", []), analysed("negative", ["billing", "refunds"])])
        row = await (await driver(conn)).fetchrow("SELECT sentiment_label, topics FROM steps WHERE id = 'f:1'")
        visits = await (await driver(conn)).fetchval("SELECT count(*) FROM visits WHERE customer_id = $1", customer)
    assert (row["sentiment_label"], row["topics"]) == ("negative", ["billing", "refunds"])
    assert visits == 1
