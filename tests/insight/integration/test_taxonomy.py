"""A tenant edits its taxonomy as versions; re-analysis applies a new one to history as new analysis events."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.insight.integration.conftest import Stack, Tenant

PARKING = {
    "id": "parking",
    "name": "Parking",
    "description": "Parking at the store: spaces, fees, the car park",
    "keywords": ["parking", "car park", "parking lot"],
    "examples": ["There was nowhere to park at the store"],
}


async def put_taxonomy_with_parking(t: Tenant) -> dict[str, Any]:
    current = (await t.client.get("/v1/insights/taxonomy")).json()
    topics = [*current["topics"], PARKING]
    response = await t.client.put("/v1/insights/taxonomy", json={"topics": topics})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_default_taxonomy_ships_and_edits_are_versions(stack: Stack) -> None:
    t = await stack.tenant()
    default = (await t.client.get("/v1/insights/taxonomy")).json()
    ids = {topic["id"] for topic in default["topics"]}
    assert default["version"] == 1
    assert {"billing", "login_access", "wait_time", "staff_attitude", "delivery", "pricing", "cancellation"} <= ids
    saved = await put_taxonomy_with_parking(t)
    assert saved["version"] == 2 and "parking" in {topic["id"] for topic in saved["topics"]}
    assert (await t.client.get("/v1/insights/taxonomy")).json()["version"] == 2
    other = await stack.tenant()
    assert (await other.client.get("/v1/insights/taxonomy")).json()["version"] == 1


async def test_an_invalid_taxonomy_is_refused_and_changes_nothing(stack: Stack) -> None:
    t = await stack.tenant()
    bad_bodies: list[Any] = [
        {"topics": []},
        {"topics": [PARKING, PARKING]},
        {"topics": [{**PARKING, "id": "Has Spaces"}]},
        {"topics": [{**PARKING, "name": ""}]},
        {"topics": [PARKING], "extra": 1},
        {"topics": "parking"},
    ]
    for body in bad_bodies:
        response = await t.client.put("/v1/insights/taxonomy", json=body)
        assert response.status_code == 422, (body, response.text)
    assert (await t.client.get("/v1/insights/taxonomy")).json()["version"] == 1


async def test_reanalysis_applies_a_new_taxonomy_to_history(stack: Stack) -> None:
    t = await stack.tenant()
    ids = await t.batch(
        [{"text": "The parking lot at your store is always full, I drove around for 20 minutes"}] * 2
        + [{"text": "Great service today, thanks"}]
    )
    await t.all_analysed(ids)
    before = await t.analysis(ids[0])
    assert "parking" not in [x["topic"] for x in before["topics"]]
    await put_taxonomy_with_parking(t)
    job = await t.client.post("/v1/insights/reanalyses", json={"since": "2000-01-01T00:00:00Z", "rate": 1000})
    assert job.status_code == 202, job.text
    job_id = job.json()["id"]
    assert job.json()["total"] == 3
    for _ in range(300):
        progress = (await t.client.get(f"/v1/insights/reanalyses/{job_id}")).json()
        if progress["status"] == "done":
            break
        await asyncio.sleep(0.1)
    assert progress["status"] == "done" and progress["done"] == 3 and progress["progress"] == 1.0
    after = await t.analysis(ids[0], revision=2)
    assert after["taxonomy_version"] == 2 and "parking" in [x["topic"] for x in after["topics"]]
    volumes = (await t.client.get("/v1/insights/metrics", params={"metric": "volume", "group_by": "topic"})).json()
    assert {s["key"]: s["value"] for s in volumes["series"]}.get("parking") == 2.0
    total = (await t.client.get("/v1/insights/metrics", params={"metric": "volume"})).json()
    assert total["series"][0]["value"] == 3.0  # superseded analyses are not counted twice
