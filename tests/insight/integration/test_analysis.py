"""Feedback sent through the gateway is redacted, analysed, sealed and readable through the gateway."""

from __future__ import annotations

import asyncpg

from tests.insight.integration.conftest import Stack

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
PHONE = "+44 20 7946 0958"


async def test_feedback_is_analysed_and_readable_through_the_gateway(stack: Stack) -> None:
    t = await stack.tenant()
    fid = await t.feedback(
        channel="email",
        text=f"You charged my card {CARD} twice this month and nobody answers. Write to me at {EMAIL}!",
        scores={"nps": 2},
        customer={"id": "crm-1"},
    )
    a = await t.analysis(fid)
    assert a["redacted_text"] is not None
    assert EMAIL not in a["redacted_text"] and "[EMAIL]" in a["redacted_text"]
    assert "4111" not in a["redacted_text"] and "[CARD]" in a["redacted_text"]
    assert a["redactions"] == {"email": 1, "card": 1}
    assert a["sentiment"]["label"] == "negative" and -1 <= a["sentiment"]["score"] < 0
    assert "billing" in [topic["topic"] for topic in a["topics"]]
    assert a["intent"] == "complaint"
    assert a["scores"] == {"nps": 2, "csat": None, "ces": None}
    assert a["model_version"] and a["taxonomy_version"] == 1 and a["revision"] == 1
    assert set(a["emotions"]) == {"anger", "frustration", "disappointment", "confusion", "joy", "gratitude"}


async def test_score_only_feedback_takes_its_sentiment_from_the_score(stack: Stack) -> None:
    t = await stack.tenant()
    promoter = await t.feedback(scores={"nps": 10})
    detractor = await t.feedback(scores={"csat": 1})
    assert (await t.analysis(promoter))["sentiment"]["label"] == "positive"
    d = await t.analysis(detractor)
    assert d["sentiment"]["label"] == "negative" and d["topics"] == [] and d["redacted_text"] is None


async def test_pii_never_reaches_insights_tables(stack: Stack) -> None:
    t = await stack.tenant()
    fid = await t.feedback(text=f"Call me on {PHONE} or mail {EMAIL}, card {CARD}", customer={"id": "crm-9"})
    await t.analysis(fid)
    conn = await asyncpg.connect(stack.database_url)
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'insight' "
                "AND table_type = 'BASE TABLE'"
            )
        ]
        assert "analyses" in tables and "events" in tables
        for table in tables:
            rows = await conn.fetch(f"SELECT t::text AS row FROM insight.{table} t")
            for row in rows:
                for secret in (EMAIL, CARD, "7946 0958", "jane.doe"):
                    assert secret not in row["row"], f"{secret!r} found in insight.{table}"
    finally:
        await conn.close()


async def test_a_tenant_never_sees_another_tenants_analyses(stack: Stack) -> None:
    a, b = await stack.tenant(), await stack.tenant()
    fid = await a.feedback(text="The delivery was late again", scores={"nps": 3})
    await a.analysis(fid)
    assert (await b.client.get(f"/v1/insights/feedback/{fid}")).status_code == 404
    metrics = (await b.client.get("/v1/insights/metrics", params={"metric": "volume"})).json()
    assert metrics["series"] == []
    themes = (await b.client.get("/v1/insights/themes")).json()
    assert themes["total"] == 0 and themes["themes"] == []


async def test_analysing_needs_the_insight_scopes(stack: Stack) -> None:
    t = await stack.tenant()
    anonymous = await stack.admin.get("/v1/insights/metrics")
    assert anonymous.status_code == 401
    assert (await t.client.get("/v1/insights/feedback/not-a-uuid")).status_code == 422


async def test_analyze_previews_texts_without_storing_them(stack: Stack) -> None:
    t = await stack.tenant()
    response = await t.client.post(
        "/v1/insights/analyze",
        json={"items": [{"text": f"Thank you so much, the agent was wonderful! {EMAIL}"}, {"nps": 0}]},
    )
    assert response.status_code == 200, response.text
    first, second = response.json()["items"]
    assert first["sentiment"]["label"] == "positive" and "[EMAIL]" in first["redacted_text"]
    assert second["sentiment"]["label"] == "negative"
    assert (await t.client.get("/v1/insights/metrics", params={"metric": "volume"})).json()["series"] == []
    bad = await t.client.post("/v1/insights/analyze", json={"items": [{"text": "x", "nps": 11}]})
    assert bad.status_code == 422
