"""A real Label Studio server on 127.0.0.1 for the human-rating tests: `.venv-label-studio`
(`make label-studio`), a free port, a temporary data folder with SQLite, an admin user and a
legacy API token created non-interactively (`label-studio start --username --password
--user-token`), telemetry, Sentry and the version check off (nothing leaves the machine).

A fresh data folder spends most of the start in Django's migrations; the first start migrates
a template database (`.venv-label-studio/template/label_studio.sqlite3`, holding only the
migrations and the test admin) and later sessions copy it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tsr_assets.core.lake import REPO_ROOT
from tsr_assets_tests.ui.headless_chromium import free_port

LS_VENV = REPO_ROOT / ".venv-label-studio"
LABEL_STUDIO = LS_VENV / "bin" / "label-studio"
TEMPLATE = LS_VENV / "template" / "label_studio.sqlite3"
DATABASE = "label_studio.sqlite3"
ADMIN_EMAIL = "admin@tsr.test"
ADMIN_PASSWORD = "tsr-test-password"
#: A legacy API token of the test admin (40 hex characters, as Label Studio makes them).
ADMIN_TOKEN = "7e57" * 10
QUIET = {"SENTRY_DSN": "", "FRONTEND_SENTRY_DSN": "", "COLLECT_ANALYTICS": "false",
         "LATEST_VERSION_CHECK": "false"}


@dataclass(frozen=True)
class LabelStudioServer:
    """A running server: its address, the admin's token, and how long it took to start."""

    url: str
    token: str
    start_seconds: float
    data_dir: Path


def _wait_until_up(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Label Studio exited ({process.returncode}):\n"
                               + log.read_text(errors="replace")[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"Label Studio did not answer /health within {timeout_s:.0f}s:\n"
                       + log.read_text(errors="replace")[-3000:])


@contextmanager
def _server(data_dir: Path, timeout_s: float) -> Iterator[LabelStudioServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir / "server.log"
    env = {**os.environ, **QUIET, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir)}
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LABEL_STUDIO), "start", "--no-browser", "--data-dir", str(data_dir),
             "--internal-host", "127.0.0.1", "-p", str(port), "--username", ADMIN_EMAIL,
             "--password", ADMIN_PASSWORD, "--user-token", ADMIN_TOKEN,
             "--enable-legacy-api-token", "--log-level", "WARNING"],
            cwd=data_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        _wait_until_up(url, process, log, timeout_s)
        yield LabelStudioServer(url, ADMIN_TOKEN, time.monotonic() - started, data_dir)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def _template(timeout_s: float) -> Path:
    """The migrated template database, made by one start of a fresh server if missing."""
    if TEMPLATE.is_file():
        return TEMPLATE
    with tempfile.TemporaryDirectory(prefix="tsr-label-studio-template-") as folder:
        with _server(Path(folder), timeout_s):
            pass
        TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
        partial = TEMPLATE.with_suffix(f".tmp-{os.getpid()}")
        shutil.copy2(Path(folder) / DATABASE, partial)
        partial.replace(TEMPLATE)
    return TEMPLATE


@contextmanager
def running_label_studio(timeout_s: float = 600.0) -> Iterator[LabelStudioServer]:
    """Label Studio on a free port of 127.0.0.1 with a temporary data folder."""
    if not LABEL_STUDIO.exists():
        raise RuntimeError(f"{LABEL_STUDIO} is missing: `make label-studio` installs it "
                           "(`make test` does)")
    template = _template(timeout_s)
    with tempfile.TemporaryDirectory(prefix="tsr-label-studio-") as folder:
        shutil.copy2(template, Path(folder) / DATABASE)
        with _server(Path(folder), timeout_s) as server:
            yield server
