"""Metrics come from pre-aggregated buckets, in the caller's time zone, grouped as asked, superseded on re-analysis."""

from __future__ import annotations

from cxm_insight.api import MetricSeriesOut
from tests.insight.integration.conftest import Stack


async def test_nps_per_channel_per_local_day(stack: Stack) -> None:
    t = await stack.tenant()
    ids = await t.batch(
        [
            {"channel": "chat", "scores": {"nps": 10}, "occurred_at": "2026-01-10T03:00:00Z"},
            {"channel": "chat", "scores": {"nps": 0}, "occurred_at": "2026-01-10T12:00:00Z"},
            {"channel": "email", "scores": {"nps": 9}, "occurred_at": "2026-01-10T13:00:00Z"},
            {"channel": "email", "scores": {"nps": 7}, "occurred_at": "2026-01-10T14:00:00Z"},
        ]
    )
    await t.all_analysed(ids)
    params = {
        "metric": "nps", "interval": "day", "group_by": "channel", "tz": "America/New_York",
        "from": "2026-01-09T00:00:00-05:00", "to": "2026-01-11T00:00:00-05:00",
    }  # fmt: skip
    body = (await t.client.get("/v1/insights/metrics", params=params)).json()
    assert body["definition_version"] == 1 and body["tz"] == "America/New_York"
    series = {s["key"]: s for s in body["series"]}
    chat = [(p["start"], p["value"], p["n"]) for p in series["chat"]["points"]]
    assert chat == [("2026-01-09T00:00:00-05:00", 100.0, 1), ("2026-01-10T00:00:00-05:00", -100.0, 1)]
    assert series["email"]["value"] == 50.0 and series["email"]["n"] == 2
    utc = (await t.client.get("/v1/insights/metrics", params={**params, "tz": "UTC"})).json()
    chat_utc = next(s for s in utc["series"] if s["key"] == "chat")
    assert [(p["start"], p["value"]) for p in chat_utc["points"]] == [("2026-01-10T00:00:00+00:00", 0.0)]


async def test_volume_and_sentiment_by_topic_and_week(stack: Stack) -> None:
    t = await stack.tenant()
    ids = await t.batch(
        [{"text": "I was billed twice for my subscription, refund me", "occurred_at": "2026-02-02T10:00:00Z"}] * 3
        + [{"text": "The courier lost my parcel and delivery took weeks", "occurred_at": "2026-02-03T10:00:00Z"}]
    )
    await t.all_analysed(ids)
    params = {"metric": "volume", "interval": "week", "group_by": "topic", "from": "2026-02-01T00:00:00Z",
              "to": "2026-03-01T00:00:00Z"}  # fmt: skip
    body = (await t.client.get("/v1/insights/metrics", params=params)).json()
    volumes = {s["key"]: s["value"] for s in body["series"]}
    assert volumes["billing"] == 3.0 and volumes["delivery"] == 1.0
    negative = (await t.client.get("/v1/insights/metrics", params={**params, "metric": "negative_share"})).json()
    assert {s["key"]: s["value"] for s in negative["series"]}["billing"] == 100.0


async def test_a_query_that_cannot_be_answered_is_a_422(stack: Stack) -> None:
    t = await stack.tenant()
    cases = [
        {"tz": "Mars/Olympus"},
        {"interval": "minute"},
        {"group_by": "colour"},
        {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "interval": "hour"},
        {"from": "2026-01-01T00:00:00"},
    ]
    for params in cases:
        response = await t.client.get("/v1/insights/metrics", params=params)
        assert response.status_code == 422, (params, response.text)


async def test_the_answer_has_the_shape_the_merged_document_gives_it(stack: Stack) -> None:
    t = await stack.tenant()
    ids = await t.batch(
        [
            {"channel": "chat", "scores": {"nps": 10}, "occurred_at": "2026-01-10T03:00:00Z"},
            {"channel": "email", "scores": {"csat": 5}, "occurred_at": "2026-01-10T04:00:00Z"},
        ]
    )
    await t.all_analysed(ids)
    params = {"metric": "nps", "group_by": "channel", "from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00Z"}
    response = await t.client.get("/v1/insights/metrics", params=params)
    assert response.headers["content-type"] == "application/json"
    answer = MetricSeriesOut.model_validate_json(response.content)
    assert [(g.key, g.value, g.n) for g in answer.series] == [("chat", 100.0, 1), ("email", None, 0)]
    document = (await t.client.get("/openapi.json")).json()
    ok = document["paths"]["/v1/insights/metrics"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/MetricSeriesOut"}
    assert set(document["components"]["schemas"]["MetricSeriesOut"]["required"]) == {
        "metric", "interval", "tz", "group_by", "from", "to", "definition_version", "series"
    }  # fmt: skip
