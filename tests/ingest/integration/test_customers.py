"""Customers: attributes, merges when keys meet, and erasure by crypto-shredding."""

from __future__ import annotations

from sqlalchemy import text

from cxm_common.db import create_engine
from tests.ingest.integration.conftest import Stack


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_attributes_are_set_and_merged(stack: Stack) -> None:
    h = bearer((await stack.tenant())["api_key"])
    first = await stack.client.put("/v1/customers/crm-7", json={"segment": "smb", "value": 1200.5}, headers=h)
    assert first.status_code == 200, first.text
    second = await stack.client.put("/v1/customers/crm-7", json={"plan": "pro", "email": "x@y.z"}, headers=h)
    body = second.json()
    assert body["attributes"] == {"segment": "smb", "value": 1200.5, "plan": "pro"}
    assert body["email"] == "x@y.z" and body["key"] == "crm-7"
    assert (await stack.client.put("/v1/customers/crm-7", json={"value": -1}, headers=h)).status_code == 422


async def test_two_customers_merge_when_one_reference_carries_both_keys(stack: Stack) -> None:
    h = bearer((await stack.tenant())["api_key"])
    await stack.client.post(
        "/v1/feedback", json={"channel": "chat", "customer": {"id": "crm-1"}, "text": "a"}, headers=h
    )
    await stack.client.post(
        "/v1/feedback", json={"channel": "chat", "customer": {"id": "crm-2", "email": "p@q.r"}, "text": "b"}, headers=h
    )
    await stack.client.post(
        "/v1/feedback", json={"channel": "chat", "customer": {"id": "crm-1", "email": "p@q.r"}, "text": "c"}, headers=h
    )
    items = (await stack.client.get("/v1/feedback", params={"customer_id": "crm-2"}, headers=h)).json()["items"]
    assert sorted(i["text"] for i in items) == ["a", "b", "c"]
    assert len({i["customer_id"] for i in items}) == 1


async def test_erasure_makes_a_customers_pii_unreadable_and_leaves_others_alone(
    stack: Stack, database_url: str
) -> None:
    t = await stack.tenant()
    h = bearer(t["api_key"])
    secret_text = "my card 4111 1111 1111 1111 was charged twice"
    gone = await stack.client.post(
        "/v1/feedback", json={"channel": "email", "customer": {"id": "crm-gone", "email": "gone@example.com"},
                              "text": secret_text}, headers=h,
    )  # fmt: skip
    kept = await stack.client.post(
        "/v1/feedback", json={"channel": "email", "customer": {"id": "crm-kept"}, "text": "fine"}, headers=h
    )
    erased = await stack.client.delete("/v1/customers/crm-gone", headers=h)
    assert erased.status_code == 202
    status = (await stack.client.get(f"/v1/erasures/{erased.json()['erasure_id']}", headers=h)).json()
    assert status["services"]["ingest"] is not None and status["complete"] is True
    assert (await stack.client.get(f"/v1/feedback/{gone.json()['id']}", headers=h)).json()["text"] is None
    assert (await stack.client.get(f"/v1/feedback/{kept.json()['id']}", headers=h)).json()["text"] == "fine"
    assert (await stack.client.get("/v1/customers/crm-gone", headers=h)).status_code == 404
    assert (await stack.client.get("/v1/customers/gone@example.com", headers=h)).status_code == 404
    export = (await stack.client.get("/v1/feedback/export", headers=h)).text
    assert "4111" not in export and "gone@example.com" not in export
    engine = create_engine(database_url, "ingest")
    async with engine.connect() as conn:
        everything = await conn.scalar(text("SELECT string_agg(data::text, ' ') FROM events"))
    await engine.dispose()
    assert "4111" not in everything and "gone@example.com" not in everything and "crm-gone" not in everything
    assert (await stack.client.delete("/v1/customers/crm-gone", headers=h)).status_code == 404


async def test_erasure_also_forgets_what_metadata_said(stack: Stack) -> None:
    h = bearer((await stack.tenant())["api_key"])
    made = await stack.client.post(
        "/v1/feedback",
        json={"channel": "survey", "customer": {"id": "crm-m"}, "text": "t", "metadata": {"job": "nurse at St Mary"}},
        headers=h,
    )
    assert (await stack.client.get(f"/v1/feedback/{made.json()['id']}", headers=h)).json()["metadata"] == {
        "job": "nurse at St Mary"
    }
    await stack.client.delete("/v1/customers/crm-m", headers=h)
    assert (await stack.client.get(f"/v1/feedback/{made.json()['id']}", headers=h)).json()["metadata"] == {}
