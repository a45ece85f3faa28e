"""Where the embedded stack keeps its data, and the state file that tells other commands how to reach it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


def data_dir() -> Path:
    """The embedded stack's folder: `CXM_DATA_DIR`, else `.cxm` in the current directory."""
    return Path(os.environ.get("CXM_DATA_DIR", ".cxm")).absolute()


@dataclass
class StackState:
    """What a running `cxm up` publishes for `cxm status` and the other commands."""

    pid: int
    database_url: str
    nats_url: str
    gateway_url: str
    services: dict[str, str] = field(default_factory=dict)
    postgres_port: int | None = None
    nats_port: int | None = None

    def save(self, folder: Path) -> None:
        """Write the state file."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "state.json").write_text(json.dumps(asdict(self), indent=2))


def load_state(folder: Path | None = None) -> StackState | None:
    """Read the state file of the stack under `folder`, if any."""
    path = (folder or data_dir()) / "state.json"
    try:
        return StackState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def admin_database_url() -> str:
    """The owner URL for migrations and tools: `CXM_DATABASE_URL`, else the running embedded stack's."""
    url = os.environ.get("CXM_DATABASE_URL")
    if url:
        return url
    state = load_state()
    if state is None:
        raise SystemExit("no database: set CXM_DATABASE_URL or start the system with `cxm up`")
    return state.database_url


def gateway_url() -> str:
    """The gateway's base URL: `CXM_GATEWAY_URL`, else the running embedded stack's."""
    url = os.environ.get("CXM_GATEWAY_URL")
    if url:
        return url.rstrip("/")
    state = load_state()
    if state is None or not state.gateway_url:
        raise SystemExit("no gateway: set CXM_GATEWAY_URL or start the system with `cxm up`")
    return state.gateway_url


def admin_token() -> str:
    """The operator token: `CXM_ADMIN_TOKEN`, else the one the embedded stack generated."""
    token = os.environ.get("CXM_ADMIN_TOKEN")
    if token:
        return token
    path = data_dir() / "admin-token"
    if not path.exists():
        raise SystemExit("no operator token: set CXM_ADMIN_TOKEN")
    return path.read_text().strip()
