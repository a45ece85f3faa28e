"""A whole system started the way a user starts it (`cxm up`), for end-to-end tests through the gateway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from cxm_common.embedded import free_port

CXM = str(Path(sys.executable).parent / "cxm")
SERVICES = {"ingest", "insight", "journey", "actions", "gateway"}


class Up:
    """A `cxm up` process in a folder of its own."""

    def __init__(self, folder: Path, gateway_port: int) -> None:
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CXM_")}
        self.env.update({"CXM_DATA_DIR": str(folder), "CXM_GATEWAY_PORT": str(gateway_port)})
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    def start(self, timeout: float = 120) -> dict[str, object]:
        self.process = subprocess.Popen(
            [CXM, "up"], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
            self.output.append(line)
            if line.startswith("cxm is up"):
                return json.loads((self.folder / "state.json").read_text())
        raise AssertionError("cxm up did not become ready:\n" + "".join(self.output))

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(60)
        assert self.process.stdout is not None
        self.output.extend(self.process.stdout.readlines())
        return code


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o755)
    yield tmp_path / "cxm"
    for proc in psutil.process_iter(["cmdline"]):  # never leave a server behind, even when a test fails
        if str(tmp_path) in " ".join(proc.info["cmdline"] or []):
            proc.kill()


@dataclass(frozen=True)
class System:
    """A running system: its gateway URL, operator token and state."""

    up: Up
    state: dict[str, object]

    @property
    def gateway(self) -> str:
        return str(self.state["gateway_url"])

    @property
    def admin_token(self) -> str:
        return (self.up.folder / "admin-token").read_text().strip()

    def new_tenant(self, name: str) -> dict[str, str]:
        """Create a tenant through the operator route."""
        response = httpx.post(
            f"{self.gateway}/v1/admin/tenants",
            json={"name": name},
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]


def kill_leftovers(root: Path) -> None:
    """Kill any process started under `root` (only when a test failed to stop its system)."""
    for proc in psutil.process_iter(["cmdline"]):
        if str(root) in " ".join(proc.info["cmdline"] or []):
            proc.kill()


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One `cxm up` for the end-to-end tests that share it."""
    root = tmp_path_factory.mktemp("system")
    root.chmod(0o755)
    up = Up(root / "cxm", free_port())
    state = up.start()
    try:
        yield System(up, state)
    finally:
        up.stop()
        kill_leftovers(root)
