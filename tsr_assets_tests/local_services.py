"""Real servers on 127.0.0.1 for the scale-out tests: Redis, PostgreSQL and Celery workers.

Each runs as its own process on a free loopback port with its data in a temporary folder, and
is stopped (and its folder removed) afterwards. A missing binary is an error that says how to
install it (`make test` does), never a skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tsr_assets.core.lake import REPO_ROOT

BIN = Path(sys.executable).parent


class ServiceUnavailable(RuntimeError):
    """A server could not be started; the message says why and what to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def find_binary(name: str, debian_package: str) -> str:
    """The path of `name` (PATH, then PostgreSQL's versioned folders), else an error naming
    the Debian package."""
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise ServiceUnavailable(f"{name} not found: install Debian's {debian_package} "
                                 f"(`make test` does: apt-get install {debian_package})")
    return found


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, log: Path,
                   timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServiceUnavailable(f"{what} exited with {proc.returncode}: "
                                     f"{log.read_text(errors='replace')[-2000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ServiceUnavailable(f"{what} did not listen on 127.0.0.1:{port} within {timeout_s}s")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass


class RedisServer:
    """Debian's redis-server; `stop()` and `start()` again keep the port and the queue."""

    def __init__(self, folder: Path) -> None:
        self.binary = find_binary("redis-server", "redis-server")
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The broker URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        log = self.folder / "redis.log"
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             # A broker keeps its queue across a restart (append-only file), as in production.
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder),
             "--logfile", str(log)],
            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self.proc, "redis-server", log)

    def stop(self) -> None:
        """Stop the server (queued messages wait in its append-only file)."""
        if self.proc is not None:
            _stop(self.proc)


class PostgresServer:
    """A PostgreSQL cluster in a fresh folder under /tmp with a `dagster` database.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres`
    user (its folder must be one that user can enter: pytest's own are private to root).
    """

    USER = "dagster"

    def __init__(self) -> None:
        self.initdb = find_binary("initdb", "postgresql")
        self.postgres = find_binary("postgres", "postgresql")
        self.folder = Path(tempfile.mkdtemp(prefix="tsr-pg-", dir="/tmp"))
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> None:
        """initdb, start the server, create the `dagster` database."""
        data = self.folder / "data"
        if self._as:
            shutil.chown(self.folder, "postgres")
        init = subprocess.run([*self._as, self.initdb, "-D", str(data), "-A", "trust", "-U",
                               self.USER, "-E", "UTF8", "--no-sync"],
                              capture_output=True, text=True, timeout=120)
        if init.returncode != 0:
            raise ServiceUnavailable(f"initdb failed: {init.stderr[-2000:]}")
        log = self.folder / "postgres.log"
        with open(log, "w") as out:
            if self._as:
                shutil.chown(log, "postgres")
            self.proc = subprocess.Popen(
                [*self._as, self.postgres, "-D", str(data), "-p", str(self.port), "-k",
                 str(self.folder), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                 "-c", "max_connections=200"],
                start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self.proc, "postgres", log)
        self._create_database()

    def _create_database(self) -> None:
        import psycopg2

        deadline = time.monotonic() + 30
        while True:
            try:
                con = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.USER,
                                       dbname="postgres")
                break
            except psycopg2.OperationalError:  # listening, still starting up
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        con.autocommit = True
        con.cursor().execute("CREATE DATABASE dagster")
        con.close()

    def env(self) -> dict[str, str]:
        """What deploy/celery/dagster.yaml reads."""
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port),
                "DAGSTER_PG_USER": self.USER, "DAGSTER_PG_PASSWORD": "unused-with-trust"}

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)


class CeleryWorker:
    """`celery -A dagster_celery.app worker` with one pool process, settings from
    deploy/celery/dagster_celery_config.py."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.env = {**env, "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT / "deploy" / "celery"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.log = log
        self.proc: subprocess.Popen | None = None

    @property
    def hostname(self) -> str:
        """The node name Celery reports (`<name>@<host>`)."""
        return f"{self.name}@{socket.gethostname()}"

    def start(self, timeout_s: float = 120) -> None:
        """Start the worker and wait for Celery's `ready` line (in this start's part of the
        log: a restarted worker appends to it)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "celery"), "-A", "dagster_celery.app", "worker", "-Q", "dagster",
                 "-n", self.hostname, "-c", "1", "-l", "info", "--without-gossip",
                 "--without-mingle"],
                cwd=REPO_ROOT, env=self.env, start_new_session=True, stdout=out,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while "ready." not in self.log.read_text(errors="replace")[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise ServiceUnavailable(f"celery worker {self.name} did not start: "
                                         f"{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the worker and its pool process, as when its machine dies."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), SIGKILL if it hangs."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM, timeout_s=60)
