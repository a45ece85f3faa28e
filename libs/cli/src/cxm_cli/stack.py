"""`cxm up`: embedded Postgres and NATS (unless URLs are given), migrations, and one process per service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from cxm_cli.registry import services
from cxm_cli.state import StackState, load_state
from cxm_common.crypto import MasterKey
from cxm_common.embedded import EmbeddedNats, EmbeddedPostgres, free_port, port_is_free
from cxm_common.migrations import ensure_role, upgrade
from cxm_common.service import ServiceSpec
from cxm_common.settings import normalise_database_url

EMBEDDED_DATABASE = "cxm"
PREFERRED_PG_PORT = 55432
PREFERRED_NATS_PORT = 44222


def with_user_and_database(url: str, user: str | None = None, database: str | None = None) -> str:
    """Return `url` with another user name and/or database (password dropped when the user changes)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if user:
        host = netloc.rsplit("@", 1)[-1]
        netloc = f"{user}@{host}"
    path = f"/{database}" if database else parts.path
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


async def create_database(admin_url: str, name: str) -> None:
    """Create database `name` if it does not exist."""
    engine = create_async_engine(normalise_database_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()


async def migrate_all(admin_url: str, specs: dict[str, ServiceSpec], *, create_roles: bool) -> dict[str, bool]:
    """Create each service's schema (and runtime role where allowed) and apply its migrations."""
    roles: dict[str, bool] = {}
    engine = create_async_engine(normalise_database_url(admin_url))
    try:
        for spec in specs.values():
            has_role = False
            if create_roles:
                async with engine.begin() as conn:
                    has_role = await ensure_role(conn, spec.runtime_role)
            await upgrade(admin_url, spec.schema, spec.migrations, role=spec.runtime_role if has_role else None)
            roles[spec.name] = has_role
    finally:
        await engine.dispose()
    return roles


def kept_secret(
    folder: Path, env_name: str, file_name: str, generate: Callable[[], str] = lambda: secrets.token_urlsafe(48)
) -> str:
    """A secret from the environment, else one generated once and kept (mode 0600) in `folder`."""
    configured = os.environ.get(env_name)
    if configured:
        return configured
    path = folder / file_name
    if not path.exists():
        path.write_text(generate())
        path.chmod(0o600)
    return path.read_text().strip()


def runtime_database_url(spec: ServiceSpec, admin_url: str, has_role: bool) -> str:
    """The URL a service runs with: its own `CXM_<SERVICE>_DATABASE_URL`, its role, or the shared URL."""
    own = os.environ.get(f"CXM_{spec.name.upper()}_DATABASE_URL")
    if own:
        return own
    return with_user_and_database(admin_url, user=spec.runtime_role) if has_role else admin_url


@dataclass
class Child:
    """One supervised service process."""

    spec: ServiceSpec
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The process's loopback base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (or restart) the process, appending to its log file."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"cxm_{self.spec.name}", "all", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.spec.nice:
            # Services that mostly analyse what others acknowledged yield the CPU to those that acknowledge it:
            # a burst is stored at full speed and analysed as the CPU frees up. Set before the interpreter starts
            # threads of its own, which inherit it.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, self.process.pid, self.spec.nice)

    def alive(self) -> bool:
        """Say whether the process is running."""
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        """Ask the process to stop (it drains consumers and finishes in-flight requests)."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        """Wait until `deadline` (monotonic) for the process to exit, then kill it."""
        if self.process is None:
            return
        try:
            self.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


class Stack:
    """The whole system on one machine, started and stopped as one."""

    def __init__(self, folder: Path, echo: Callable[[str], None] = print) -> None:
        self.folder = folder
        self.echo = echo
        self.pg: EmbeddedPostgres | None = None
        self.nats: EmbeddedNats | None = None
        self.children: list[Child] = []
        self.stopping = False

    def start(self) -> StackState:
        """Start servers, migrate, start every service and wait until all are ready."""
        started = time.monotonic()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)
        previous = load_state(self.folder)
        if previous and pid_alive(previous.pid) and previous.pid != os.getpid():
            raise SystemExit(f"cxm is already running from {self.folder} (pid {previous.pid}); stop it first")
        admin_url = os.environ.get("CXM_DATABASE_URL")
        embedded_db = not admin_url
        if embedded_db:
            port = free_port((previous and previous.postgres_port) or PREFERRED_PG_PORT)
            self.pg = EmbeddedPostgres(self.folder / "postgres", port, durable=True)
            self.echo(f"postgres  starting on 127.0.0.1:{port} (data in {self.pg.data_dir})")
            self.pg.start()
            asyncio.run(create_database(self.pg.url, EMBEDDED_DATABASE))
            admin_url = with_user_and_database(self.pg.url, database=EMBEDDED_DATABASE)
        assert admin_url is not None
        nats_url = os.environ.get("CXM_NATS_URL")
        if not nats_url:
            port = free_port((previous and previous.nats_port) or PREFERRED_NATS_PORT)
            self.nats = EmbeddedNats(
                self.folder / "nats", port, sync_always=os.environ.get("CXM_NATS_SYNC_ALWAYS", "") == "1"
            )
            self.echo(f"nats      starting on 127.0.0.1:{port} (JetStream in {self.nats.store_dir})")
            nats_url = self.nats.start()
        secret = kept_secret(self.folder, "CXM_INTERNAL_TOKEN_SECRET", "internal-token-secret")
        admin_token = kept_secret(self.folder, "CXM_ADMIN_TOKEN", "admin-token")
        master_key = kept_secret(self.folder, "CXM_MASTER_KEY", "master-key", MasterKey.generate)
        specs = services()
        self.echo(f"migrating {', '.join(specs)}")
        roles = asyncio.run(migrate_all(admin_url, specs, create_roles=embedded_db))
        ports = self._ports(specs)
        service_urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        logs = self.folder / "logs"
        logs.mkdir(exist_ok=True)
        for name, spec in specs.items():
            env = dict(os.environ)
            env.update(
                {
                    f"CXM_{name.upper()}_DATABASE_URL": runtime_database_url(spec, admin_url, roles.get(name, False)),
                    "CXM_NATS_URL": nats_url,
                    "CXM_INTERNAL_TOKEN_SECRET": secret,
                    "CXM_ADMIN_TOKEN": admin_token,
                    "CXM_MASTER_KEY": master_key,
                    "PYTHONUNBUFFERED": "1",
                }
            )
            for other, url in service_urls.items():
                env[f"CXM_GATEWAY_{other.upper()}_URL"] = url
            child = Child(spec, ports[name], env, logs / f"{name}.log")
            child.start()
            self.children.append(child)
        gateway_url = service_urls.get("gateway", "")
        state = StackState(
            pid=os.getpid(),
            database_url=admin_url,
            nats_url=nats_url,
            gateway_url=gateway_url,
            services=service_urls,
            postgres_port=self.pg.port if self.pg else None,
            nats_port=self.nats.port if self.nats else None,
        )
        state.save(self.folder)
        self._wait_ready(timeout=float(os.environ.get("CXM_READY_TIMEOUT", "60")))
        self.echo(f"ready in {time.monotonic() - started:.1f}s; logs in {logs}")
        return state

    def _ports(self, specs: dict[str, ServiceSpec]) -> dict[str, int]:
        ports: dict[str, int] = {}
        for name, spec in specs.items():
            if name == "gateway":
                wanted = int(os.environ.get("CXM_GATEWAY_PORT", spec.default_port))
                if wanted in ports.values() or not port_is_free(wanted):
                    raise SystemExit(f"port {wanted} is taken: set CXM_GATEWAY_PORT to a free port")
                ports[name] = wanted
            else:
                port = free_port(spec.default_port)
                while port in ports.values() or port == int(os.environ.get("CXM_GATEWAY_PORT", 8080)):
                    port = free_port()
                ports[name] = port
        return ports

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = {c.spec.name: c for c in self.children}
        with httpx.Client(timeout=1.0) as client:
            while pending and time.monotonic() < deadline:
                for name, child in list(pending.items()):
                    if not child.alive():
                        raise SystemExit(f"{name} exited during start; see {child.log_path}")
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(f"{child.url}/readyz").status_code == 200:
                            self.echo(f"{name:<9} ready at {child.url}")
                            del pending[name]
                time.sleep(0.1)
        if pending:
            raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(pending)} (see {self.folder / 'logs'})")

    def supervise(self) -> None:
        """Restart crashed services (at most 5 times a minute each) until asked to stop."""
        while not self.stopping:
            for child in self.children:
                if not self.stopping and not child.alive():
                    now = time.monotonic()
                    child.restarts = [t for t in child.restarts if now - t < 60] + [now]
                    if len(child.restarts) > 5:
                        self.echo(f"{child.spec.name} keeps crashing; giving up (see {child.log_path})")
                        return
                    self.echo(f"{child.spec.name} exited; restarting")
                    child.start()
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop services (gateway first), then NATS, then Postgres; leave no process behind."""
        self.stopping = True
        for child in reversed(self.children):
            child.terminate()
        deadline = time.monotonic() + 30
        for child in reversed(self.children):
            child.wait_or_kill(deadline)
        if self.nats is not None:
            self.nats.stop()
        if self.pg is not None:
            self.pg.stop("fast")
        state_file = self.folder / "state.json"
        state = load_state(self.folder)
        if state and state.pid == os.getpid():
            # Keep the ports for the next start, but mark the stack as stopped.
            state.pid = 0
            state.save(self.folder)
        elif state_file.exists() and state is None:
            state_file.unlink()


def pid_alive(pid: int) -> bool:
    """Say whether a process with this pid exists."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
