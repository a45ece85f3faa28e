"""The operator's commands against a running system: status, replay, republish, dead letters."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.e2e.conftest import CXM, System


def cxm(system: System, *args: str) -> str:
    done = subprocess.run([CXM, *args], env=system.up.env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_status_replay_republish_and_dead_letters(system: System) -> None:
    key = system.new_tenant("ops")["api_key"]
    headers = {"Authorization": f"Bearer {key}"}
    made = httpx.post(f"{system.gateway}/v1/feedback", json={"channel": "chat", "text": "kept"}, headers=headers)
    assert made.status_code == 202

    status = json.loads(cxm(system, "status", "--json"))
    assert all(s["ready"] for s in status["services"].values())
    assert "replayed" in cxm(system, "replay", "ingest")
    feedback = httpx.get(f"{system.gateway}/v1/feedback/{made.json()['id']}", headers=headers)
    assert feedback.json()["text"] == "kept"  # the read model was rebuilt from the event store
    assert "queued" in cxm(system, "republish", "ingest", "--since", "2020-01-01")
    assert json.loads(cxm(system, "dead-letters", "list", "--json")) == []
    assert "queued for redrive" in cxm(system, "dead-letters", "redrive", "--service", "ingest")
