"""Outbound webhooks end to end: events from the streams reach subscribed URLs, signed, retried, logged, isolated."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from cxm_actions.outbound.deliveries import Attempt, Dispatcher, Job, WorkerSettings
from cxm_actions.outbound.policy import Outcome
from cxm_actions.outbound.targets import TargetPolicy
from cxm_actions.outbound.transport import guarded_client
from cxm_ingest.sources.base import WebhookRequest
from cxm_ingest.sources.generic import ADAPTER
from tests.actions.integration.outbound_fixtures import (
    Received,
    StackFactory,
    WebhookReceiver,
    answer,
    eventually,
    hang,
    outbound_stack,
    webhook_receiver,
)

__all__ = ["outbound_stack", "webhook_receiver"]  # fixtures


def verify(received: Received, secret: str) -> None:
    """Check a request's signature the Standard Webhooks way (ingest's verifier raises if it does not match)."""
    request = WebhookRequest("POST", "http://receiver/", received.headers, received.body, received.at)
    ADAPTER.verify(request, {"secret": secret}, now=received.at)


async def subscribe(client: Any, url: str, event_types: list[str]) -> dict[str, Any]:
    """Create a subscription and return it (with its secret)."""
    response = await client.post("/v1/subscriptions", json={"url": url, "event_types": event_types})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def log_of(client: Any, subscription_id: str, **params: Any) -> list[dict[str, Any]]:
    """The first page of a subscription's delivery log."""
    response = await client.get(f"/v1/subscriptions/{subscription_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_an_event_is_delivered_on_the_third_attempt_signed_and_logged(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    tenant = uuid.uuid4()
    async with outbound_stack() as stack:
        client = stack.client(tenant)
        url = webhook_receiver.url("/flaky", answer(500, 500, 200))
        created = await subscribe(client, url, ["actions.action.*"])
        assert created["secret"].startswith("whsec_") and created["status"] == "active"

        event = await stack.append(tenant, "actions.action.created.v1", {"action_id": "a-1", "title": "Call back"})

        async def delivered() -> dict[str, Any] | None:
            items = await log_of(client, created["id"])
            return items[0] if items and items[0]["status"] == "delivered" else None

        entry = await eventually(delivered, what="the delivery")
        requests = webhook_receiver.at("/flaky")
        assert [r.status for r in requests] == [500, 500, 200]
        for received in requests:
            assert received.headers["webhook-id"] == str(event.id)
            assert received.headers["content-type"] == "application/json"
            assert received.headers["user-agent"] == "cxm-webhooks/1"
            verify(received, created["secret"])
        assert orjson.loads(requests[-1].body) == {
            "id": str(event.id),
            "type": "actions.action.created.v1",
            "time": event.time.isoformat(),
            "tenant_id": str(tenant),
            "subject": event.subject,
            "data": {"action_id": "a-1", "title": "Call back"},
        }
        assert entry["event_id"] == str(event.id) and entry["event_type"] == "actions.action.created.v1"
        assert entry["attempts"] == 3 and entry["last_status_code"] == 200
        assert entry["delivered_at"] is not None and entry["next_attempt_at"] is None and entry["last_error"] is None

        detail = (await client.get(f"/v1/subscriptions/{created['id']}/deliveries/{entry['id']}")).json()
        assert [(a["attempt"], a["status_code"]) for a in detail["attempt_log"]] == [(1, 500), (2, 500), (3, 200)]
        assert detail["attempt_log"][0]["error"] == "HTTP 500: nope"

        shown = (await client.get(f"/v1/subscriptions/{created['id']}")).json()
        listed = (await client.get("/v1/subscriptions")).json()["items"]
        assert "secret" not in shown and all("secret" not in s for s in listed)
        assert [s["id"] for s in listed] == [created["id"]]


async def test_an_insight_event_on_its_stream_is_delivered_and_other_types_are_not(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    tenant = uuid.uuid4()
    async with outbound_stack() as stack:
        client = stack.client(tenant)
        created = await subscribe(client, webhook_receiver.url("/alerts", answer(204)), ["insight.alert.*"])
        await stack.publish("insight", tenant, "insight.feedback.analyzed.v1", {"feedback_id": "f"})
        alert = await stack.publish("insight", tenant, "insight.alert.raised.v1", {"alert_id": "x", "_pii": {}})

        async def delivered() -> list[Received] | None:
            return webhook_receiver.at("/alerts") or None

        [received] = await eventually(delivered, what="the alert's delivery")
        assert orjson.loads(received.body)["id"] == str(alert.id)
        assert orjson.loads(received.body)["data"] == {"alert_id": "x"}
        verify(received, created["secret"])
        assert [e["event_type"] for e in await log_of(client, created["id"])] == ["insight.alert.raised.v1"]


async def test_an_endpoint_that_always_fails_does_not_delay_another(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    tenant = uuid.uuid4()
    async with outbound_stack(outbound_timeout_s=5.0) as stack:
        client = stack.client(tenant)
        down = await subscribe(client, webhook_receiver.url("/down", hang(webhook_receiver)), ["actions.*"])
        await subscribe(client, webhook_receiver.url("/up", answer(200)), ["actions.*"])
        events = [await stack.append(tenant, "actions.action.created.v1", {"n": n}) for n in range(12)]
        started = datetime.now(UTC)

        async def all_up() -> bool:
            return len(webhook_receiver.at("/up")) == len(events)

        # Every event reaches the healthy endpoint while the broken one still holds its first requests.
        await eventually(all_up, timeout=4.0, what="delivery to the healthy endpoint")
        assert (datetime.now(UTC) - started).total_seconds() < 5.0
        assert webhook_receiver.at("/down") == []
        assert webhook_receiver.most_in_flight["/down"] <= 4  # at most a few in flight per subscription
        assert {orjson.loads(r.body)["id"] for r in webhook_receiver.at("/up")} == {str(e.id) for e in events}
        webhook_receiver.release.set()

        async def retried() -> bool:
            entries = await log_of(client, down["id"], status="pending")
            return any(e["attempts"] >= 1 and e["last_status_code"] == 500 for e in entries)

        await eventually(retried, what="the failing endpoint's attempts to be logged as retries")


async def test_a_410_disables_the_subscription_and_nothing_more_is_sent(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    tenant = uuid.uuid4()
    async with outbound_stack() as stack:
        client = stack.client(tenant)
        created = await subscribe(client, webhook_receiver.url("/gone", answer(410)), ["actions.*"])
        await stack.append(tenant, "actions.action.created.v1", {"n": 1})

        async def disabled() -> dict[str, Any] | None:
            found = (await client.get(f"/v1/subscriptions/{created['id']}")).json()
            return found if found["status"] == "disabled" else None

        found = await eventually(disabled, what="the subscription to be disabled")
        assert "410" in found["disabled_reason"]
        [entry] = await log_of(client, created["id"])
        assert entry["status"] == "failed" and entry["last_status_code"] == 410
        await stack.append(tenant, "actions.action.created.v1", {"n": 2})
        witness = await subscribe(client, webhook_receiver.url("/witness", answer(200)), ["actions.*"])
        await stack.append(tenant, "actions.action.created.v1", {"n": 3})

        # The event sent before the witness subscribed may still reach it (the consumer can lag behind the
        # subscription); what matters is that the one sent after it arrives and the disabled endpoint gets nothing.
        async def witnessed() -> bool:
            return any(b'"n":3' in r.body.replace(b" ", b"") for r in webhook_receiver.at("/witness"))

        await eventually(witnessed, what="the witness delivery")
        assert len(webhook_receiver.at("/gone")) == 1
        assert len(await log_of(client, created["id"])) == 1
        assert witness["status"] == "active"


async def test_a_private_target_is_refused_at_creation_when_not_allowed(outbound_stack: StackFactory) -> None:
    async with outbound_stack(outbound_allow_private=False) as stack:
        client = stack.client(uuid.uuid4())
        refusals = {
            "https://127.0.0.1/hook": "loopback",
            "https://10.0.0.7/hook": "private",
            "https://169.254.169.254/latest/meta-data/": "link-local",
            "https://[::ffff:192.168.1.1]/hook": "private",
            "https://2130706433/hook": "dotted-decimal",
            "http://hooks.example.com/hook": "https",
            "https://user:pw@hooks.example.com/hook": "credentials",
        }
        for url, reason in refusals.items():
            response = await client.post("/v1/subscriptions", json={"url": url, "event_types": ["journey.*"]})
            assert response.status_code == 422, url
            assert response.headers["content-type"] == "application/problem+json"
            assert reason in response.json()["detail"], (url, response.json()["detail"])
        response = await client.post(
            "/v1/subscriptions", json={"url": "https://203.0.113.9/hook", "event_types": ["ingest.*"]}
        )
        assert response.status_code == 422 and "personal data" in response.json()["detail"]
        assert (await client.get("/v1/subscriptions")).json()["items"] == []


async def test_another_tenant_never_sees_the_subscription_or_its_log(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    async with outbound_stack() as stack:
        mine, theirs = stack.client(owner), stack.client(other)
        created = await subscribe(mine, webhook_receiver.url("/mine", answer(200)), ["actions.*"])
        await stack.append(other, "actions.action.created.v1", {"tenant": "other"})
        mine_event = await stack.append(owner, "actions.action.created.v1", {"tenant": "owner"})

        async def delivered() -> list[dict[str, Any]] | None:
            items = await log_of(mine, created["id"], status="delivered")
            return items or None

        [entry] = await eventually(delivered, what="the owner's delivery")
        assert entry["event_id"] == str(mine_event.id)
        assert [orjson.loads(r.body)["tenant_id"] for r in webhook_receiver.at("/mine")] == [str(owner)]

        sid = created["id"]
        assert (await theirs.get("/v1/subscriptions")).json()["items"] == []
        for path in (f"/v1/subscriptions/{sid}", f"/v1/subscriptions/{sid}/deliveries",
                     f"/v1/subscriptions/{sid}/deliveries/{entry['id']}"):  # fmt: skip
            assert (await theirs.get(path)).status_code == 404, path
        assert (await theirs.delete(f"/v1/subscriptions/{sid}")).status_code == 404
        assert (await mine.get(f"/v1/subscriptions/{sid}")).status_code == 200


async def test_writing_needs_the_write_scope_and_a_deleted_subscription_is_gone(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    tenant = uuid.uuid4()
    async with outbound_stack() as stack:
        reader = stack.client(tenant, frozenset({"actions:read"}))
        response = await reader.post(
            "/v1/subscriptions", json={"url": webhook_receiver.url("/x", answer(200)), "event_types": ["journey.*"]}
        )
        assert response.status_code == 403
        client = stack.client(tenant)
        created = await subscribe(client, webhook_receiver.url("/x", answer(200)), ["journey.*"])
        assert (await client.delete(f"/v1/subscriptions/{created['id']}")).status_code == 204
        assert (await client.get(f"/v1/subscriptions/{created['id']}")).status_code == 404
        assert (await client.delete(f"/v1/subscriptions/{created['id']}")).status_code == 404
        await stack.publish("journey", tenant, "journey.stage.entered.v1", {"stage": "onboarding"})
        witness = await subscribe(client, webhook_receiver.url("/w", answer(200)), ["journey.*"])
        await stack.publish("journey", tenant, "journey.stage.entered.v1", {"stage": "active"})

        # The event sent before the witness subscribed may still reach it (the consumer can lag behind the
        # subscription); what matters is that the one sent after it arrives and the deleted one gets nothing.
        async def witnessed() -> bool:
            return any(b'"active"' in r.body for r in webhook_receiver.at("/w"))

        await eventually(witnessed, what="the witness delivery")
        assert webhook_receiver.at("/x") == []
        assert witness["id"] != created["id"]


async def test_the_log_pages_through_every_delivery(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    limit = 2
    tenant = uuid.uuid4()
    async with outbound_stack() as stack:
        client = stack.client(tenant)
        created = await subscribe(client, webhook_receiver.url("/paged", answer(200)), ["actions.*"])
        events = [await stack.append(tenant, "actions.action.created.v1", {"n": n}) for n in range(3)]

        async def all_delivered() -> bool:
            return len(await log_of(client, created["id"], status="delivered")) == 3

        await eventually(all_delivered, what="three deliveries")
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
            page = (await client.get(f"/v1/subscriptions/{created['id']}/deliveries", params=params)).json()
            assert len(page["items"]) <= limit
            seen.extend(e["event_id"] for e in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(str(e.id) for e in events) and len(seen) == 3


async def test_a_send_whose_outcome_was_never_recorded_is_sent_again_once_its_lease_runs_out(
    outbound_stack: StackFactory, webhook_receiver: WebhookReceiver
) -> None:
    tenant = uuid.uuid4()
    async with outbound_stack(worker=False) as stack:
        client = stack.client(tenant)
        created = await subscribe(client, webhook_receiver.url("/once", answer(200)), ["actions.*"])
        event = await stack.append(tenant, "actions.action.created.v1", {"n": 1})

        async def queued() -> list[dict[str, Any]] | None:
            return await log_of(client, created["id"]) or None

        [entry] = await eventually(queued, what="the delivery to be queued")
        assert (entry["status"], entry["attempts"]) == ("pending", 0)

        class DiesAfterSending(Dispatcher):
            async def record(self, job: Job, attempt: Attempt) -> Outcome:
                raise RuntimeError("the process died before recording")

        settings = WorkerSettings(timeout_s=0.5, lease_margin_s=0.5, backoff_s=(0.1,))
        runtime = stack.runtime

        def dispatcher(kind: type[Dispatcher]) -> Dispatcher:
            http = guarded_client(TargetPolicy(allow_private=True), timeout_s=0.5, max_connections=4)
            return kind(runtime.engine, runtime.keyring, http, settings)

        dead, survivor = dispatcher(DiesAfterSending), dispatcher(Dispatcher)
        try:
            assert await dead.tick() == 1
            await dead.settle()
            [entry] = await log_of(client, created["id"])
            assert (entry["status"], entry["attempts"]) == ("pending", 1)
            assert await survivor.tick() == 0  # the lease still holds
            await asyncio.sleep(1.2)
            assert await survivor.tick() == 1
            await survivor.settle()
        finally:
            await dead.client.aclose()
            await survivor.client.aclose()
        [entry] = await log_of(client, created["id"])
        assert (entry["status"], entry["attempts"]) == ("delivered", 2)
        requests = webhook_receiver.at("/once")
        assert [r.headers["webhook-id"] for r in requests] == [str(event.id), str(event.id)]
