"""Where the trainer's progress goes: stdout, Dagster Pipes (rank 0 only) and optionally W&B.

Under Dagster Pipes (launched by the checkpoint asset) rank 0 opens the Pipes connection,
streams log lines to the run's event log and reports the materialization with the summary.
Standalone, or on other ranks, lines go to stdout only. Weights & Biases is optional: used when
a project is configured and `wandb` imports, in offline mode when there is no API key, and any
failure there only disables it. Before an online run starts, the W&B host is probed (a TCP
connect of a few seconds): a key on a machine without network logs offline at once instead of
waiting out `wandb.init`'s 90 s timeout.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

#: W&B's cloud API; `$WANDB_BASE_URL` (the `wandb` resource's `host`) names another server.
WANDB_CLOUD_HOST = "https://api.wandb.ai"
#: How long the W&B host has to accept a TCP connection before a run logs offline.
PROBE_TIMEOUT_S = 3.0

# Other torchrun ranks must not talk to Dagster: drop the Pipes variables before anything
# can read them (rank 0 keeps them).
if os.environ.get("RANK", "0") != "0":
    os.environ.pop("DAGSTER_PIPES_CONTEXT", None)
    os.environ.pop("DAGSTER_PIPES_MESSAGES", None)


def _is_pipes_process() -> bool:
    try:
        from dagster_pipes import PipesEnvVarParamsLoader
    except ImportError:
        return False
    return PipesEnvVarParamsLoader().is_dagster_pipes_process()


def wandb_host() -> str:
    """The W&B server runs talk to: `$WANDB_BASE_URL`, else W&B's cloud."""
    return os.environ.get("WANDB_BASE_URL") or WANDB_CLOUD_HOST


def wandb_files_env(dagster_home: str | Path) -> dict[str, str]:
    """Where W&B keeps its own files, all under `<dagster_home>/wandb/`: the `.netrc` a login
    writes the key to (`NETRC`), its settings (`WANDB_CONFIG_DIR`), its cache and debug logs
    (`WANDB_CACHE_DIR`) and artifact staging (`WANDB_DATA_DIR`), so that nothing lands in the
    user's home (`~/.netrc`, `~/.config/wandb`, `~/.cache/wandb`, `~/.local/share/wandb`)."""
    root = Path(dagster_home) / "wandb"
    return {"NETRC": str(root / "netrc"), "WANDB_CONFIG_DIR": str(root / "config"),
            "WANDB_CACHE_DIR": str(root / "cache"), "WANDB_DATA_DIR": str(root / "data")}


def host_answers(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether `url`'s host (or the HTTPS/HTTP proxy the environment names for it) accepts a
    TCP connection within `timeout_s`, name lookup included. Sends nothing."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"https://{url}")
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if not parts.hostname:
        return False
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    answered: list[bool] = []

    def connect() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout_s):
                answered.append(True)
        except (OSError, UnicodeError):
            pass

    # A thread bounds the name lookup too, which has no timeout of its own.
    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout_s)
    return bool(answered)


class Telemetry:
    """Logging and reporting for one training run."""

    def __init__(self, enabled: bool, cfg: Any) -> None:
        self.enabled = enabled
        self.cfg = cfg
        self._pipes = None
        self._wandb = None
        if enabled and _is_pipes_process():
            from dagster_pipes import open_dagster_pipes

            self._pipes_cm = open_dagster_pipes()
            self._pipes = self._pipes_cm.__enter__()

    def log(self, line: str) -> None:
        """A progress line (rank 0 only)."""
        if not self.enabled:
            return
        print(f"[train] {line}", flush=True)
        if self._pipes is not None:
            self._pipes.log.info(line)

    def start_wandb(self, model_config: dict) -> None:
        """Start a W&B run if a project is configured; never fails the training run."""
        if not self.enabled or not self.cfg.wandb_project:
            return
        try:
            import wandb

            mode = self.cfg.wandb_mode or ("online" if os.environ.get("WANDB_API_KEY")
                                           else "offline")
            if mode == "online" and not host_answers(wandb_host()):
                self.log(f"W&B unreachable at {wandb_host()}: logging offline")
                mode = "offline"
            self._wandb = wandb.init(
                project=self.cfg.wandb_project, name=self.cfg.wandb_run_name, mode=mode,
                dir=self.cfg.out_dir, config={**model_config, **_plain(self.cfg)},
                resume="allow",
            )
            self.log(f"W&B run {self._wandb.id} ({mode}) in {self.cfg.out_dir}")
        except Exception as exc:  # W&B is never a hard dependency of a run
            self.log(f"W&B disabled: {type(exc).__name__}: {exc}")
            self._wandb = None

    def wandb_log(self, row: dict) -> None:
        """Log one metrics row to W&B when active."""
        if self._wandb is not None:
            try:
                self._wandb.log(row, step=row["step"])
            except Exception as exc:
                self.log(f"W&B logging stopped: {exc}")
                self._wandb = None

    def log_artifact(self, name: str, kind: str, paths: list[Path]) -> None:
        """Upload files as a W&B Artifact when the run is online; offline, say why not.

        Offline runs would copy every checkpoint into the local W&B folder for a later sync,
        doubling the disk a large model needs, so they skip it. Never fails the run.
        """
        if self._wandb is None:
            return
        if self._wandb.settings.mode != "online":
            self.log(f"W&B is {self._wandb.settings.mode}: {name} was not uploaded as an "
                     "artifact (only online runs upload checkpoints)")
            return
        try:
            import wandb

            artifact = wandb.Artifact(name, type=kind)
            for path in paths:
                artifact.add_file(str(path))
            self._wandb.log_artifact(artifact)
            self.log(f"W&B artifact {name} ({kind}) uploaded")
        except Exception as exc:  # W&B is never a hard dependency of a run
            self.log(f"W&B artifact {name} not uploaded: {type(exc).__name__}: {exc}")

    def report_summary(self, summary: dict) -> None:
        """Report the materialization through Pipes (when launched by Dagster)."""
        if self._pipes is None:
            return
        metadata = {k: v for k, v in summary.items()
                    if isinstance(v, (int, float, str, bool)) and v is not None}
        self._pipes.report_asset_materialization(metadata=metadata)

    def close(self) -> None:
        """Finish W&B and close Pipes."""
        if self._wandb is not None:
            try:
                self._wandb.finish()
            except Exception:
                pass
        if self._pipes is not None:
            self._pipes_cm.__exit__(*sys.exc_info())
            self._pipes = None


def _plain(cfg: Any) -> dict:
    import dataclasses

    return {k: v for k, v in dataclasses.asdict(cfg).items()
            if isinstance(v, (int, float, str, bool)) or v is None}
