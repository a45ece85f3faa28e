"""`cxm up` as a new user runs it: everything ready, events flow, Ctrl-C leaves nothing behind, data survives."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import psutil
import pytest

from cxm_common.db import create_engine
from cxm_common.embedded import free_port
from cxm_common.envelope import Envelope
from cxm_common.eventstore import append, load
from tests.e2e.conftest import CXM, SERVICES, Up, kill_leftovers


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o755)
    yield tmp_path / "cxm"
    kill_leftovers(tmp_path)  # never leave a server behind, even when a test fails


def processes_under(folder: Path) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline and proc.info["pid"] != os.getpid():
            found.append(cmdline)
    return found


def priorities(up: Up) -> dict[str, int]:
    """The CPU priority (nice) of each service process `cxm up` started."""
    assert up.process is not None
    found = {}
    for child in psutil.Process(up.process.pid).children():
        for service in SERVICES:
            if f"cxm_{service}" in " ".join(child.cmdline()):
                found[service] = child.nice()
    return found


async def append_to_ingest(database_url: str) -> uuid.UUID:
    engine = create_engine(database_url, "ingest")
    event = Envelope(type="ingest.probe.recorded.v1", source="ingest", subject="probe", tenant_id=uuid.uuid4(), data={})
    async with engine.begin() as conn:
        await append(conn, "probe", [event], expected_version=0)
    await engine.dispose()
    return event.id


async def stored_probe(database_url: str) -> list[uuid.UUID]:
    engine = create_engine(database_url, "ingest")
    async with engine.connect() as conn:
        events = await load(conn, "probe")
    await engine.dispose()
    return [e.id for e in events]


async def published(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        for _ in range(100):
            count = (await nc.jetstream().stream_info("INGEST")).state.messages
            if count:
                return count
            await asyncio.sleep(0.1)
        return 0
    finally:
        await nc.close()


def test_up_runs_everything_stops_cleanly_and_keeps_data(folder: Path) -> None:
    up = Up(folder, free_port())
    state = up.start()
    try:
        assert set(state["services"]) == SERVICES
        for url in state["services"].values():
            ready = httpx.get(f"{url}/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
        event_id = asyncio.run(append_to_ingest(str(state["database_url"])))
        assert asyncio.run(published(str(state["nats_url"]))) == 1
        created = subprocess.run(
            [CXM, "tenant", "create", "acme", "--json"], env=up.env, capture_output=True, text=True, check=True
        )
        key = json.loads(created.stdout)["api_key"]
        gateway = str(state["gateway_url"])
        keys = httpx.get(f"{gateway}/v1/api-keys", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert keys.status_code == 200, keys.text
        assert httpx.get(f"{gateway}/openapi.json", timeout=5).json()["info"]["title"] == "cxm API"
        assert priorities(up) == {"ingest": 0, "gateway": 0, "insight": 10, "journey": 10, "actions": 10}
    finally:
        assert up.stop() == 0, "".join(up.output)
    assert processes_under(folder) == []

    again = Up(folder, free_port())
    state = again.start()
    try:
        assert asyncio.run(stored_probe(str(state["database_url"]))) == [event_id]
        assert asyncio.run(published(str(state["nats_url"]))) == 1
    finally:
        assert again.stop() == 0
    assert processes_under(folder) == []
