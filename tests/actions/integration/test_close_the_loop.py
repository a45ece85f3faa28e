"""Closing the loop through the gateway: a detractor's webhook becomes an owned item with a context card and a
suggested action; it cannot be resolved without a root cause; the customer's next promoter answer is a recovery;
the SLA clock fires on time."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cxm_actions.queries import context_card
from cxm_common.db import set_tenant
from tests.actions.integration.conftest import Stack, Tenant, eventually

WEBHOOKS = Path(__file__).parents[2] / "ingest" / "fixtures" / "webhooks"
NOW = datetime.now(UTC).replace(microsecond=0)
EMAIL = "dana.reyes@example.org"


async def close_loop_items(t: Tenant) -> list[dict[str, Any]] | None:
    body = await t.ok("GET", "/v1/actions", params={"kind": "close_loop"})
    return body["items"] or None  # type: ignore[no-any-return]


async def test_a_detractor_webhook_becomes_an_owned_item_that_closes_the_loop(stack: Stack) -> None:
    t = await stack.tenant()
    await t.ok("PUT", "/v1/customers/crm-dana", json={"email": EMAIL, "team": "enterprise", "value": 12000})
    interactions = [
        {
            "customer_id": "crm-dana",
            "name": "login",
            "channel": "web",
            "occurred_at": (NOW - timedelta(days=3)).isoformat(),
        },
        {
            "customer_id": "crm-dana",
            "name": "conversation_started",
            "channel": "chat",
            "occurred_at": (NOW - timedelta(days=2)).isoformat(),
        },
    ]
    await t.ok("POST", "/v1/interactions/batch", status=202, json={"items": interactions})
    customer = (await t.ok("GET", "/v1/customers/crm-dana"))["id"]

    async def interactions_seen() -> bool:
        card = await stack_card(stack, t, customer)
        return len(card) >= 2

    await eventually(interactions_seen, what="the customer's interactions reaching actions")
    connection = await t.ok(
        "POST", "/v1/connections", status=201, json={"source": "delighted", "name": "nps", "config": {}}
    )
    body = json.loads((WEBHOOKS / "delighted_survey_response.json").read_text())
    body["event_data"]["comment"] = "Billing charged me twice and support took days to answer."
    body["event_data"]["created_at"] = body["event_data"]["updated_at"] = int(NOW.timestamp())
    response = await t.client.post(
        connection["webhook_url"], content=json.dumps(body), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    [item] = await eventually(lambda: close_loop_items(t), what="a close-loop item")
    assert item["customer_id"] == customer and item["status"] == "open" and item["priority"] == "high"
    assert item["sla"]["status"] == "on_track"
    assert (
        timedelta(hours=47)
        < datetime.fromisoformat(item["due_at"]) - datetime.fromisoformat(item["created_at"])
        <= timedelta(hours=48)
    )
    assert item["team"] == "enterprise" and item["suggestion"] and item["suggestion"]["action"]
    full = await t.ok("GET", f"/v1/actions/{item['id']}")
    context = full["context"]
    assert {"web", "chat"} <= set(context["channels"])
    assert context["feedback"][0]["scores"]["nps"] == 6 and "twice" in context["feedback"][0]["text"]
    assert context["value"] == 12000.0
    assert [h["type"] for h in full["history"]] == ["actions.action.created.v1"]

    refused = await t.client.post(f"/v1/actions/{item['id']}/transitions", json={"to": "resolved"})
    assert refused.status_code == 409 and "root_cause" in refused.text
    await t.ok("POST", f"/v1/actions/{item['id']}/transitions", json={"to": "in_progress"})
    await t.ok("POST", f"/v1/actions/{item['id']}/comments", status=201, json={"text": "Called Dana, refund issued."})
    done = {"to": "resolved", "root_cause": "duplicate charge at renewal", "suggestion_used": True}
    resolved = await t.ok("POST", f"/v1/actions/{item['id']}/transitions", json=done)
    assert resolved["status"] == "resolved" and resolved["root_cause"] == "duplicate charge at renewal"
    assert [h["type"].split(".")[2] for h in resolved["history"]] == [
        "created",
        "transitioned",
        "commented",
        "transitioned",
    ]
    assert resolved["history"][2]["data"]["text"] == "Called Dana, refund issued."
    bad = await t.client.post(f"/v1/actions/{item['id']}/transitions", json={"to": "acknowledged"})
    assert bad.status_code == 409

    await t.ok(
        "POST",
        "/v1/feedback",
        status=202,
        json={
            "channel": "survey",
            "customer": {"id": "crm-dana"},
            "scores": {"nps": 9},
            "text": "Thanks for sorting it out so quickly!",
        },
    )

    async def recovered() -> dict[str, Any] | None:
        report = await t.ok("GET", "/v1/actions/sla")
        group = report["groups"][0] if report["groups"] else None
        return group if group and group["recovery_rate"] == 1.0 else None

    group = await eventually(recovered, what="the recovery")
    assert group["resolved"] == 1 and group["on_time_rate"] == 1.0
    playbook = await t.ok("GET", "/v1/actions/playbook")
    [result] = [r for r in playbook["results"] if r["play_id"] == item["suggestion"]["play_id"]]
    assert result["used"] == 1 and result["recovered"] == 1
    # The same customer's next detractor answer while an item is open is not a second item.
    assert len(await close_loop_items(t) or []) == 1


async def stack_card(stack: Stack, t: Tenant, customer: str) -> list[Any]:

    async with stack.actions.runtime.engine.begin() as conn:
        await set_tenant(conn, uuid.UUID(t.id))
        card = await context_card(conn, stack.actions.keyring, uuid.UUID(t.id), uuid.UUID(customer), exclude=None)
    return card["interactions"]  # type: ignore[no-any-return]


async def test_the_sla_clock_fires_exactly_when_an_item_falls_due(stack: Stack) -> None:
    t = await stack.tenant()
    item = await t.ok(
        "POST",
        "/v1/actions",
        status=201,
        json={
            "kind": "improvement",
            "title": "Fix the checkout timeout",
            "sla_hours": 48,
            "links": {"stage": "purchase"},
        },
    )
    clock = stack.actions.clock
    clock.advance(timedelta(hours=47, minutes=59))
    assert await stack.actions.sla.round() == 0
    clock.advance(timedelta(minutes=2))
    assert await stack.actions.sla.round() == 1
    assert await stack.actions.sla.round() == 0  # once, not at every round
    breached = await t.ok("GET", f"/v1/actions/{item['id']}")
    assert breached["sla"]["status"] == "breached"
    assert breached["history"][-1]["type"] == "actions.action.sla_breached.v1"
    report = await t.ok("GET", "/v1/actions/sla", params={"by": "kind"})
    assert report["groups"][0]["breaches"] == 1


async def test_items_are_a_tenants_own_and_bad_requests_are_refused(stack: Stack) -> None:
    a, b = await stack.tenant(), await stack.tenant()
    item = await a.ok("POST", "/v1/actions", status=201, json={"kind": "improvement", "title": "Shorter forms"})
    assert (await b.client.get(f"/v1/actions/{item['id']}")).status_code == 404
    assert (await b.client.post(f"/v1/actions/{item['id']}/transitions", json={"to": "resolved"})).status_code == 404
    assert (await b.ok("GET", "/v1/actions"))["items"] == []
    bad: list[dict[str, Any]] = [
        {"kind": "chore", "title": "x"},
        {"kind": "improvement"},
        {"kind": "improvement", "title": "x", "links": {"planet": "mars"}},
        {"kind": "improvement", "title": "x", "due_at": "tomorrow"},
    ]
    for body in bad:
        assert (await a.client.post("/v1/actions", json=body)).status_code == 422, body
    assert (await a.client.post(f"/v1/actions/{item['id']}/transitions", json={"to": "done"})).status_code == 422
    assert (await a.client.get(f"/v1/actions/{item['id']}/impact")).status_code == 409
