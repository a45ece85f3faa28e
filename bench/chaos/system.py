"""The system under test: its own Postgres and NATS on free ports in a temporary folder, and every service as
separate processes (one per role where a scenario must kill one role alone), which the harness may kill and
restart. It never touches a server or process it did not start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from cxm_cli.registry import services
from cxm_cli.stack import create_database, migrate_all, runtime_database_url, with_user_and_database
from cxm_common import deadletters
from cxm_common.crypto import MasterKey
from cxm_common.db import create_engine
from cxm_common.embedded import EmbeddedNats, EmbeddedPostgres, free_port
from cxm_common.relay import requeue

log = logging.getLogger("chaos")

RESERVED_PORTS = frozenset({5432, 4222, 8080, 8081, 8082, 8083, 8084})
"""Ports of servers others may run on this machine (and `cxm up`'s defaults): never used here."""
DATABASE = "cxm"
NATS_PREFIX = ""
# Which processes run: ingest is split so that its API, its publisher (F7) and its consumer of erasure
# confirmations can be killed alone; the others run every role in one process, as `cxm up` does.
TOPOLOGY: tuple[tuple[str, str], ...] = (
    ("ingest", "api"),
    ("ingest", "publish"),
    ("ingest", "consume"),
    ("insight", "all"),
    ("journey", "all"),
    ("actions", "all"),
    ("gateway", "all"),
)
CONSUMER_BACKOFF_S = "[0.2, 0.5, 1.0, 2.0, 4.0]"
"""Redelivery backoff of every consumer (the default's shape, shorter, so that F5 dead-letters in seconds)."""


def chaos_port() -> int:
    """A free loopback port that no one else's server is expected on."""
    while True:
        port = free_port()
        if port not in RESERVED_PORTS:
            return port


@dataclass
class Process:
    """One service process (`python -m cxm_<service> <role>`) that the harness started."""

    service: str
    role: str
    port: int
    env: dict[str, str]
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    started: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        """`ingest-api`, `insight`, … (the role is named only when the service is split)."""
        return self.service if self.role == "all" else f"{self.service}-{self.role}"

    @property
    def url(self) -> str:
        """Its loopback base URL (every role serves `/readyz` and `/metrics`)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The pid while it runs."""
        return self.popen.pid if self.popen is not None and self.popen.poll() is None else None

    def start(self, failpoints: str = "") -> None:
        """Start it, with `CXM_FAILPOINTS` armed when given; output goes to its log file."""
        env = dict(self.env)
        if failpoints:
            env["CXM_FAILPOINTS"] = failpoints
        with open(self.log_path, "ab") as out:
            out.write(f"\n--- start {time.strftime('%H:%M:%S')} failpoints={failpoints or '-'}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(
                [sys.executable, "-m", f"cxm_{self.service}", self.role, "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(time.monotonic())

    def alive(self) -> bool:
        """Whether it is running."""
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL it (a crash: nothing flushed, no graceful shutdown) and reap it."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)

    def pause(self) -> None:
        """SIGSTOP it: a process frozen mid-work (it holds its connections and whatever it had claimed)."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused process."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM it (consumers finish their batch, connections drain), then SIGKILL after `timeout`."""
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    async def wait_exit(self, timeout: float) -> int | None:
        """Wait until it exits (e.g. at a failpoint); its return code, or None if it still runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None and self.popen.poll() is not None:
                return self.popen.returncode
            await asyncio.sleep(0.05)
        return None

    async def ready(self, client: httpx.AsyncClient) -> bool:
        """Whether `/readyz` says ready."""
        try:
            return (await client.get(f"{self.url}/readyz", timeout=2)).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Sample:
    """RSS and CPU seconds of every process at one instant."""

    at: float
    rss: dict[str, int]
    cpu: dict[str, float]


class Sampler:
    """Samples the RSS and CPU time of the system's processes in a thread, every `interval_s`."""

    def __init__(self, system: ChaosSystem, interval_s: float = 0.5) -> None:
        self.system = system
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-sampler", daemon=True)
        self._handles: dict[int, psutil.Process] = {}

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.take())
            self._stop.wait(self.interval_s)

    def _handle(self, pid: int) -> psutil.Process:
        handle = self._handles.get(pid)
        if handle is None:
            handle = self._handles[pid] = psutil.Process(pid)
        return handle

    def take(self) -> Sample:
        """One sample; Postgres counts as its largest process (shared buffers would be counted once per backend)."""
        rss: dict[str, int] = {}
        cpu: dict[str, float] = {}
        for name, pid in self.system.pids().items():
            with contextlib.suppress(psutil.Error):
                handle = self._handle(pid)
                if name == "postgres":
                    family = [handle, *handle.children()]
                    rss[name] = max(p.memory_info().rss for p in family)
                    times = [p.cpu_times() for p in family]
                    cpu[name] = sum(t.user + t.system for t in times) + handle.cpu_times().children_user
                else:
                    rss[name] = handle.memory_info().rss
                    times = handle.cpu_times()
                    cpu[name] = times.user + times.system
        return Sample(time.monotonic(), rss, cpu)

    def max_rss_mb(self) -> dict[str, float]:
        """The largest RSS of each process over the samples, in MB."""
        peaks: dict[str, int] = {}
        for sample in self.samples:
            for name, value in sample.rss.items():
                peaks[name] = max(peaks.get(name, 0), value)
        return {name: round(value / 2**20, 1) for name, value in sorted(peaks.items())}


class ChaosSystem:
    """Postgres, NATS and the services, started and stopped by this process only."""

    def __init__(self, root: Path | None = None, topology: tuple[tuple[str, str], ...] = TOPOLOGY) -> None:
        self.root = root or Path(tempfile.mkdtemp(prefix="cxm-chaos-"))
        self.root.chmod(0o755)  # Postgres runs as a dedicated user when we are root: it must reach its folder.
        self.topology = topology
        self.pg = EmbeddedPostgres(self.root / "postgres", chaos_port(), durable=True)
        # Production's fsync policy: a killed NATS keeps every message it acknowledged.
        self.nats = EmbeddedNats(self.root / "nats", chaos_port(), sync_always=True)
        self.processes: dict[str, Process] = {}
        self.keep = os.environ.get("CXM_CHAOS_KEEP") == "1"
        """Keep the folder (logs, data) after stopping, e.g. when a promise broke."""
        self.admin_url = ""
        self.gateway_url = ""
        self.admin_token = ""
        self.master_key = ""

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self, timeout: float = 120) -> ChaosSystem:
        """Start the servers, migrate, start every process and wait until all are ready."""
        began = time.monotonic()
        self.pg.start()
        asyncio.run(create_database(self.pg.url, DATABASE))
        self.admin_url = with_user_and_database(self.pg.url, database=DATABASE)
        nats_url = self.nats.start()
        specs = services()
        roles = asyncio.run(migrate_all(self.admin_url, specs, create_roles=True))
        secret = MasterKey.generate()
        self.admin_token = MasterKey.generate()
        self.master_key = MasterKey.generate()
        ports = {(service, role): chaos_port() for service, role in self.topology}
        api_port = {service: port for (service, role), port in ports.items() if role in ("all", "api")}
        self.gateway_url = f"http://127.0.0.1:{api_port['gateway']}"
        (self.root / "logs").mkdir(exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("CXM_")}
        for (service, role), port in ports.items():
            env = dict(base)
            prefix = f"CXM_{service.upper()}_"
            env.update(
                {
                    f"{prefix}DATABASE_URL": runtime_database_url(specs[service], self.admin_url, roles[service]),
                    f"{prefix}CONSUMER_BACKOFF_S": CONSUMER_BACKOFF_S,
                    "CXM_NATS_URL": nats_url,
                    "CXM_INTERNAL_TOKEN_SECRET": secret,
                    "CXM_ADMIN_TOKEN": self.admin_token,
                    "CXM_MASTER_KEY": self.master_key,
                    "CXM_PUBLIC_BASE_URL": self.gateway_url,
                    "CXM_LOG_LEVEL": "WARNING",
                    "PYTHONUNBUFFERED": "1",
                }
            )
            for other, other_port in api_port.items():
                env[f"CXM_GATEWAY_{other.upper()}_URL"] = f"http://127.0.0.1:{other_port}"
            process = Process(service, role, port, env, self.root / "logs" / f"{service}-{role}.log")
            self.processes[process.name] = process
        for process in self.processes.values():
            process.start()
        asyncio.run(self.wait_ready(list(self.processes), timeout))
        log.info("system ready in %.1fs under %s", time.monotonic() - began, self.root)
        return self

    def stop(self) -> None:
        """Stop every process this system started, then NATS and Postgres, and delete the folder."""
        for process in reversed(list(self.processes.values())):
            if process.alive() and process.popen is not None:
                process.popen.send_signal(signal.SIGCONT)
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self.processes.values():
            if process.popen is not None and process.popen.poll() is None:
                try:
                    process.popen.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        self.nats.stop()
        self.pg.stop("fast")
        if self.keep:
            log.warning("logs and data kept in %s", self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ChaosSystem:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def wait_ready(self, names: list[str], timeout: float) -> float:
        """Wait until the named processes answer `/readyz` with 200; return the seconds it took."""
        began = time.monotonic()
        pending = set(names)
        async with httpx.AsyncClient() as client:
            while pending:
                for name in list(pending):
                    process = self.processes[name]
                    if not process.alive():
                        raise RuntimeError(f"{name} exited; see {process.log_path}:\n{tail(process.log_path)}")
                    if await process.ready(client):
                        pending.discard(name)
                if pending and time.monotonic() - began > timeout:
                    raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")
                await asyncio.sleep(0.1)
        return time.monotonic() - began

    async def restart(self, name: str, failpoints: str = "", timeout: float = 60) -> float:
        """Kill `name` if it runs, start it again (optionally with failpoints) and wait until it is ready."""
        process = self.processes[name]
        process.kill()
        process.start(failpoints)
        return await self.wait_ready([name], timeout)

    # --- servers ---------------------------------------------------------------------------------------------

    def kill_nats(self) -> None:
        """SIGKILL NATS (a crash)."""
        self.nats.kill()

    def start_nats(self) -> None:
        """Start NATS again on the same port and store."""
        self.nats.start()

    def stop_postgres_immediately(self) -> None:
        """`pg_ctl stop -m immediate`: every backend is dropped at once, committed work survives in the WAL."""
        self.pg.stop("immediate")

    def start_postgres(self) -> None:
        """Start Postgres again (crash recovery replays the WAL)."""
        self.pg.start()

    def pids(self) -> dict[str, int]:
        """The pids of every running process of the system, by name."""
        found = {name: p.pid for name, p in self.processes.items() if p.pid is not None}
        pg = self.pg.pid()
        if pg is not None:
            found["postgres"] = pg
        if self.nats.process is not None and self.nats.process.poll() is None:
            found["nats"] = self.nats.process.pid
        return {name: pid for name, pid in found.items() if pid is not None}

    # --- access for reconciliation ----------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        """NATS's client URL."""
        return self.nats.url

    @property
    def database_url(self) -> str:
        """The owner's URL (asyncpg form), for reading every schema."""
        return self.admin_url

    async def db(self) -> asyncpg.Connection:
        """A connection as the owner (a superuser: row-level security does not hide other tenants from it)."""
        return await asyncpg.connect(self.admin_url)

    # The operator commands, as `cxm republish` and `cxm dead-letters` run them (in-process: a CLI start costs
    # seconds on a busy machine).

    async def republish(self, service: str, after_position: int) -> int:
        """`cxm republish SERVICE --after-position N`: queue stored events for the publisher again."""
        engine = create_engine(self.admin_url, service, pool_size=1, max_overflow=0)
        try:
            return await requeue(engine, after_position=after_position)
        finally:
            await engine.dispose()

    async def dead_letters(self, service: str) -> list[dict[str, Any]]:
        """`cxm dead-letters list --service SERVICE --status all`."""
        engine = create_engine(self.admin_url, service, pool_size=1, max_overflow=0)
        try:
            return [d.to_dict() for d in await deadletters.list_dead_letters(engine, status=None)]
        finally:
            await engine.dispose()

    async def redrive(self, service: str, consumer: str, ids: list[uuid.UUID]) -> int:
        """`cxm dead-letters redrive --service SERVICE --consumer CONSUMER --id …`."""
        engine = create_engine(self.admin_url, service, pool_size=1, max_overflow=0)
        try:
            return await deadletters.request_redrive(engine, ids=ids, consumer=consumer)
        finally:
            await engine.dispose()

    def describe(self) -> dict[str, Any]:
        """What ran, for the report."""
        return {
            "processes": [f"{p.service} {p.role}" for p in self.processes.values()],
            "nats_sync_interval": "always",
            "postgres": "durable (fsync on)",
            "consumer_backoff_s": CONSUMER_BACKOFF_S,
        }


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
