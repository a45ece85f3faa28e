"""One `cxm up` loaded by a small `cxm demo`, shared by the demo's and the console's tests within a session."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cxm_common.embedded import free_port
from tests.e2e.conftest import CXM, Up, kill_leftovers

# Small enough for CI (about a minute to load), large enough for every planted truth to be detected.
DEMO_ARGS = ["--customers", "500", "--days", "60", "--seed", "3"]
_KEY = pytest.StashKey["Demo"]()


@dataclass
class Demo:
    """A running system with a demo tenant: the gateway, the API key and the demo's JSON summary."""

    up: Up
    gateway: str
    key: str
    summary: dict[str, Any]
    seconds: float

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path with the demo's key; the JSON answer."""
        response = httpx.get(
            f"{self.gateway}{path}", params=params, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to an API path with the demo's key; the JSON answer."""
        response = httpx.post(
            f"{self.gateway}{path}", json=body, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    def all_items(self, **params: Any) -> list[dict[str, Any]]:
        """Every action item (all pages)."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get("/v1/actions", limit=500, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def demo_system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The session's demo system, started and loaded on first use and stopped at the end of the session."""
    stash = request.config.stash
    if _KEY in stash:
        return stash[_KEY]
    import time

    root = tmp_path_factory.mktemp("demo")
    root.chmod(0o755)
    up = Up(root / "cxm", free_port())
    state = up.start()

    def stop() -> None:
        up.stop()
        kill_leftovers(root)

    request.session.config.add_cleanup(stop)
    started = time.monotonic()
    env = {**up.env, "CXM_DATA_DIR": str(up.folder)}
    result = subprocess.run(
        [CXM, "demo", *DEMO_ARGS, "--json", "--wait", "300"], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:] + result.stdout[-2000:]
    summary = json.loads(result.stdout)
    demo = Demo(up, str(state["gateway_url"]), summary["api_key"], summary, time.monotonic() - started)
    demo.summary["progress"] = result.stderr
    stash[_KEY] = demo
    return demo


def artifacts() -> Path:
    """Where the browser tests leave their screenshots (git-ignored)."""
    folder = Path(os.environ.get("CXM_CONSOLE_ARTIFACTS", Path(__file__).parent / "artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
