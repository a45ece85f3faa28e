"""A tenant's labels teach its own model, and only its own."""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from typing import Any

import asyncpg
import numpy as np

from tests.insight.integration.conftest import Stack, Tenant

# A house style where customers report "the widget glows green" as a failure, which no general model knows.
TEACH = [f"the widget glows green {suffix}" for suffix in (
    "again", "today", "this morning", "after the update", "every hour", "since monday", "on my unit",
    "all night", "when I start it", "twice now", "still", "at boot", "on both devices", "for a week",
    "in the evening", "every time", "right now", "once more", "as usual", "yet again", "permanently",
    "at random", "without stopping", "when plugged in", "when charging",
)]  # fmt: skip
PROBES = ["the widget glows green", "my widget glows green again", "widget glowing green"]


async def predictions(t: Tenant) -> list[dict[str, Any]]:
    response = await t.client.post("/v1/insights/analyze", json={"items": [{"text": p} for p in PROBES]})
    assert response.status_code == 200, response.text
    return [i["sentiment"] for i in response.json()["items"]]


async def test_tenant_labels_change_its_predictions_and_leave_others_identical(stack: Stack) -> None:
    a, b = await stack.tenant(), await stack.tenant()
    a_before, b_before = await predictions(a), await predictions(b)
    labels = [{"text": text, "sentiment": "negative"} for text in TEACH]
    labels += [{"text": f"the widget glows blue {s}", "sentiment": "positive"} for s in ("today", "again", "now")]
    labels += [{"text": f"the widget is {s}", "sentiment": "neutral"} for s in ("grey", "square", "on the shelf")]
    response = await a.client.post("/v1/insights/labels", json={"labels": labels})
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == len(labels)
    for _ in range(600):
        status = (await a.client.get("/v1/insights/model")).json()
        if status["up_to_date"]:
            break
        await asyncio.sleep(0.1)
    assert status["up_to_date"] and status["model"]["labels"] == len(labels)
    a_after, b_after = await predictions(a), await predictions(b)
    assert all(p["label"] == "negative" for p in a_after)
    assert [p["score"] for p in a_after] != [p["score"] for p in a_before]
    assert b_after == b_before
    assert (await b.client.get("/v1/insights/model")).json()["model"] is None


async def test_labels_about_stored_feedback_use_its_redacted_text(stack: Stack) -> None:
    t = await stack.tenant()
    fid = await t.feedback(text="the widget glows green, mail me at a@b.co")
    await t.analysis(fid)
    ok = await t.client.post("/v1/insights/labels", json={"labels": [{"feedback_id": fid, "sentiment": "negative"}]})
    assert ok.status_code == 202, ok.text
    cases = [
        {"labels": [{"feedback_id": fid, "text": "both", "sentiment": "negative"}]},
        {"labels": [{"text": "neither a sentiment nor a topic"}]},
        {"labels": [{"text": "unknown topic", "topics": ["no_such_topic"]}]},
        {"labels": [{"text": "bad label", "sentiment": "furious"}]},
        {"labels": []},
    ]
    for body in cases:
        response = await t.client.post("/v1/insights/labels", json=body)
        assert response.status_code == 422, (body, response.text)
    missing = await t.client.post(
        "/v1/insights/labels",
        json={"labels": [{"feedback_id": "0195f9a4-0000-7000-8000-000000000000", "sentiment": "negative"}]},
    )
    assert missing.status_code == 404
    assert (await t.client.get("/v1/insights/model")).json()["labels"] == 1


async def test_a_model_of_an_older_format_is_retrained_from_the_same_labels(stack: Stack) -> None:
    t = await stack.tenant()
    labels = [{"text": text, "sentiment": "negative"} for text in TEACH]
    labels += [{"text": f"the widget glows blue {s}", "sentiment": "positive"} for s in ("today", "again", "now")]
    labels += [{"text": f"the widget is {s}", "sentiment": "neutral"} for s in ("grey", "square", "on the shelf")]
    assert (await t.client.post("/v1/insights/labels", json={"labels": labels})).status_code == 202
    first = await up_to_date(t)
    taught = await predictions(t)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.array(json.dumps({"format": 1, "labels": len(labels), "topics": {}})))
    conn = await asyncpg.connect(stack.database_url)
    try:
        await conn.execute(
            "UPDATE insight.tenant_models SET model = $1, report = report - 'format' WHERE tenant_id = $2",
            buffer.getvalue(), uuid.UUID(t.id),
        )  # fmt: skip
    finally:
        await conn.close()
    assert len(await predictions(t)) == len(PROBES)
    again = await up_to_date(t)
    assert again["model"]["version"] > first["model"]["version"]
    assert again["model"]["report"]["format"] == first["model"]["report"]["format"]
    assert await predictions(t) == taught


async def up_to_date(t: Tenant) -> dict[str, Any]:
    """The tenant's model status once its model is trained on all its labels in the current format."""
    for _ in range(600):
        status: dict[str, Any] = (await t.client.get("/v1/insights/model")).json()
        if status["up_to_date"]:
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"model not retrained: {status}")
