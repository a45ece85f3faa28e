"""An erasure reaches insight: the customer's texts become unreadable, tallies stay, and ingest shows it done."""

from __future__ import annotations

import asyncio

from tests.insight.integration.conftest import Stack


async def test_erasure_purges_insights_copies_and_is_confirmed(stack: Stack) -> None:
    t = await stack.tenant()
    gone = await t.feedback(
        text="The app keeps logging me out, terrible", customer={"id": "crm-gone"}, scores={"nps": 1}
    )
    kept = await t.feedback(
        text="The app keeps logging me out, terrible", customer={"id": "crm-kept"}, scores={"nps": 1}
    )
    await t.all_analysed([gone, kept])
    label = await t.client.post(
        "/v1/insights/labels", json={"labels": [{"feedback_id": gone, "sentiment": "negative"}]}
    )
    assert label.status_code == 202
    erasure = await t.client.delete("/v1/customers/crm-gone")
    assert erasure.status_code == 202, erasure.text
    erasure_id = erasure.json()["erasure_id"]
    for _ in range(300):
        status = (await t.client.get(f"/v1/erasures/{erasure_id}")).json()
        if status["complete"]:
            break
        await asyncio.sleep(0.1)
    assert status["complete"] and status["services"]["insight"] is not None
    erased = (await t.client.get(f"/v1/insights/feedback/{gone}")).json()
    assert erased["redacted_text"] is None and all(x["evidence"] is None for x in erased["topics"])
    assert (await t.client.get(f"/v1/insights/feedback/{kept}")).json()["redacted_text"]
    assert (await t.client.get("/v1/insights/model")).json()["labels"] == 0
    volume = (await t.client.get("/v1/insights/metrics", params={"metric": "volume"})).json()
    assert volume["series"][0]["value"] == 2.0  # counts hold no text and stay
