"""Key drivers, themes with trends and stories, and theme discovery, through the gateway."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.insight.integration.conftest import Stack

T0 = datetime(2026, 5, 1, tzinfo=UTC)
BILLING = ["I was charged twice on my invoice", "The bill is wrong again, overcharged", "Refund my double payment"]
DELIVERY = ["The parcel arrived late", "Delivery took two weeks", "The courier never came"]
PRAISE = ["Lovely experience overall", "All good, nothing to add", "Fine, it works"]
PARKING = [
    "The parking lot at the store is always full", "Impossible to find a parking space near the shop",
    "Parking at your store costs far too much", "Nowhere to park my car at the mall entrance",
    "Drove around the car park for twenty minutes looking for a space", "The car park is too small for the shop",
    "Parking spots are always taken when I visit the store", "I could not park anywhere near your shop",
    "The parking garage next to the store is a nightmare", "No parking spaces left again at the supermarket",
    "Parking fees at the store car park are outrageous", "Had to park a mile away from the store again",
]  # fmt: skip


def item(text: str, nps: int, days: float) -> dict[str, Any]:
    return {"text": text, "scores": {"nps": nps}, "occurred_at": (T0 + timedelta(days=days)).isoformat()}


async def test_drivers_recover_the_topic_that_drags_nps_down(stack: Stack) -> None:
    t = await stack.tenant()
    rng = random.Random(7)
    items = []
    for i in range(240):
        kind = i % 4
        if kind == 0:
            items.append(item(rng.choice(BILLING), rng.choice([0, 1, 2, 3]), i / 10))
        elif kind == 1:
            items.append(item(rng.choice(DELIVERY), rng.choice([5, 6, 7, 8]), i / 10))
        else:
            items.append(item(rng.choice(PRAISE), rng.choice([8, 9, 10]), i / 10))
    await t.all_analysed(await t.batch(items))
    params = {"outcome": "nps", "from": T0.isoformat(), "to": (T0 + timedelta(days=30)).isoformat()}
    body = (await t.client.get("/v1/insights/drivers", params=params)).json()
    assert body["n"] == 240 and body["definition_version"] == 1
    drivers = {d["topic"]: d for d in body["drivers"]}
    billing = drivers["billing"]
    assert body["drivers"][0]["topic"] == "billing"
    assert billing["significant"] and billing["direction"] == -1 and billing["impact_points"] < 0
    assert billing["ci_low"] <= billing["effect"] <= billing["ci_high"] < 0
    compared = await t.client.get(
        "/v1/insights/drivers",
        params={**params, "from": (T0 + timedelta(days=12)).isoformat(), "compare_from": T0.isoformat(),
                "compare_to": (T0 + timedelta(days=12)).isoformat()},
    )  # fmt: skip
    assert compared.status_code == 200, compared.text
    assert "what_changed" in compared.json()


async def test_themes_show_volume_trend_and_a_story(stack: Stack) -> None:
    t = await stack.tenant()
    items = [item(BILLING[i % 3], 2, 1 + i / 100) for i in range(6)]
    items += [item(BILLING[i % 3], 2, 8 + i / 100) for i in range(30)]
    items += [item(PRAISE[i % 3], 9, 8 + i / 100) for i in range(10)]
    await t.all_analysed(await t.batch(items))
    params = {"from": (T0 + timedelta(days=7)).isoformat(), "to": (T0 + timedelta(days=14)).isoformat()}
    body = (await t.client.get("/v1/insights/themes", params=params)).json()
    billing = next(x for x in body["themes"] if x["topic"] == "billing")
    assert billing["volume"] == 30 and billing["previous_volume"] == 6 and billing["trend"] == "rising"
    assert billing["nps"] == -100.0 and 1 <= len(billing["sample_feedback_ids"]) <= 5
    story = await t.client.get("/v1/insights/themes/billing/story", params=params)
    assert story.status_code == 200, story.text
    s = story.json()
    assert s["topic"] == "billing" and 1 <= len(s["sentences"]) <= 5
    assert all(x["text"] for x in s["sentences"])
    assert (await t.client.get("/v1/insights/themes/no_such/story", params=params)).status_code == 404


async def test_an_unseen_theme_is_discovered_and_can_join_the_taxonomy(stack: Stack) -> None:
    t = await stack.tenant()
    rng = random.Random(3)
    now = datetime.now(UTC)
    endings = ["! Terrible.", ", so annoying.", ". Really frustrating.", ". Awful.", ", I hate it."]
    texts = [f"{rng.choice(PARKING)}{rng.choice(endings)}" for _ in range(40)]
    ids = await t.batch(
        [{"text": x, "occurred_at": (now - timedelta(hours=i)).isoformat()} for i, x in enumerate(texts)]
    )
    await t.all_analysed(ids)
    found = await stack.insight.discovery.discover(uuid.UUID(t.id))
    assert found >= 1
    themes = (await t.client.get("/v1/insights/themes/discovered")).json()["themes"]
    parking = next(x for x in themes if any(term.startswith("park") for term in x["top_terms"]))
    assert parking["size"] >= 20 and parking["status"] == "proposed" and parking["examples"]
    accepted = await t.client.post(
        f"/v1/insights/themes/{parking['id']}/accept", json={"name": "Parking", "topic_id": "parking"}
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["taxonomy_version"] == 2
    taxonomy = (await t.client.get("/v1/insights/taxonomy")).json()
    assert "parking" in {x["id"] for x in taxonomy["topics"]}
    again = await t.client.post(f"/v1/insights/themes/{parking['id']}/accept", json={})
    assert again.status_code == 409
