"""Erasure across the whole system: after `DELETE /v1/customers/{id}`, no API of any service returns that customer's
personal data or what they wrote, and another customer's data is untouched."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.e2e.conftest import System

ERASED = {"id": "crm-erase-a", "email": "ada.quillfeather@example.com", "name": "Ada Quillfeather",
          "phone": "+44 20 7946 0958"}  # fmt: skip
KEPT = {"id": "crm-erase-b", "email": "bo.brackenridge@example.com", "name": "Bo Brackenridge"}
ERASED_TEXT = "The courier left my parcel at 12 Quillfeather Lane in the rain and it was ruined, refund me now"
KEPT_TEXT = "The courier left my parcel at 9 Brackenridge Road in the rain and it was ruined, refund me now"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def everything_readable(client: httpx.Client, feedback: dict[str, str], customers: dict[str, str]) -> str:
    """The bodies of every read that could show a customer's data, concatenated."""
    urls = [
        "/v1/feedback", "/v1/feedback/export?format=csv", "/v1/feedback/export?format=jsonl",
        "/v1/journeys/at-risk", "/v1/actions", "/v1/insights/alerts", "/v1/insights/themes/discovered",
        *(f"/v1/feedback/{fid}" for fid in feedback.values()),
        *(f"/v1/insights/feedback/{fid}" for fid in feedback.values()),
        *(f"/v1/customers/{key}" for key in (ERASED["id"], KEPT["id"], ERASED["email"], KEPT["email"])),
        *(f"/v1/journeys/customers/{cid}" for cid in customers.values()),
    ]  # fmt: skip
    items = client.get("/v1/actions").json()["items"]
    urls += [f"/v1/actions/{item['id']}" for item in items]
    bodies = []
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code, response.text)
        bodies.append(response.text)
    return "\n".join(bodies)


def test_an_erased_customer_is_unreadable_through_every_api_and_others_are_untouched(system: System) -> None:
    key = system.new_tenant("erasure")["api_key"]
    with httpx.Client(base_url=system.gateway, headers={"Authorization": f"Bearer {key}"}, timeout=15) as client:
        feedback, customers = {}, {}
        for person, text in ((ERASED, ERASED_TEXT), (KEPT, KEPT_TEXT)):
            sent = client.post("/v1/feedback", json={"channel": "survey", "customer": person, "text": text,
                                                     "scores": {"nps": 1}, "touchpoint": "delivery"})  # fmt: skip
            assert sent.status_code == 202, sent.text
            feedback[person["id"]] = sent.json()["id"]
            opened = client.post("/v1/interactions", json={"name": "ticket_opened", "customer_id": person["id"],
                                                           "occurred_at": datetime.now(UTC).isoformat(),
                                                           "properties": {"subject": text}})  # fmt: skip
            assert opened.status_code == 202, opened.text
            customers[person["id"]] = client.get(f"/v1/customers/{person['id']}").json()["id"]
        for person in (ERASED, KEPT):
            fid, cid = feedback[person["id"]], customers[person["id"]]
            wait_for("the analysis", lambda fid=fid: client.get(f"/v1/insights/feedback/{fid}").status_code == 200)
            wait_for("the timeline", lambda cid=cid: len(client.get(f"/v1/journeys/customers/{cid}").json()
                                                         .get("steps", [])) >= 2)  # fmt: skip
            wait_for("the close-loop item", lambda cid=cid: client.get("/v1/actions", params={"customer_id": cid})
                     .json()["items"])  # fmt: skip

        before = everything_readable(client, feedback, customers)
        for secret in ("Quillfeather", "Brackenridge", ERASED["email"], KEPT["email"]):
            assert secret in before, secret  # the reads below do show customers' data while it is there

        erased = client.delete(f"/v1/customers/{ERASED['id']}")
        assert erased.status_code == 202, erased.text
        status = wait_for(
            "every service's confirmation",
            lambda: (s := client.get(f"/v1/erasures/{erased.json()['erasure_id']}").json())["complete"] and s,
        )
        assert set(status["services"]) == {"ingest", "insight", "journey", "actions"}

        after = everything_readable(client, feedback, customers)
        for secret in ("Quillfeather", ERASED["email"], "ada.quillfeather", ERASED["name"], "7946 0958", ERASED["id"]):
            assert secret not in after, secret
        for kept in ("Brackenridge", KEPT["email"], KEPT["name"]):
            assert kept in after, kept
        assert client.get(f"/v1/customers/{ERASED['id']}").status_code == 404
