"""W&B in the trainer, as the checkpoint asset launches it (the `wandb` resource's environment),
in a temporary HOME and DAGSTER_HOME and without network: offline files without a key, no
`~/.netrc`, and a key whose W&B host does not answer costs seconds, not `wandb.init`'s ~100 s."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import wandb

from tsr_assets.defs.resources import WandbResource
from tsr_assets.model.telemetry import host_answers
from tsr_assets.model.train import train
from tsr_assets.model.train_config import TrainConfig

FAST = dict(preset="tiny", n_layer=1, n_embd=32, n_head=2, block_size=64, batch_size=8,
            eval_batches=2, log_every=5)
#: A key in W&B's format (40 characters) that no server knows.
FAKE_KEY = "0123456789abcdef0123456789abcdef01234567"
WANDB_VARIABLES = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_MODE", "WANDB_ENTITY",
                   "WANDB_PROJECT", "NETRC", "WANDB_CONFIG_DIR", "WANDB_CACHE_DIR",
                   "WANDB_DATA_DIR", "WANDB_DIR")


def isolated_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[tuple[Path, Path]]:
    """An empty HOME and DAGSTER_HOME, no W&B settings from the caller's environment, and a
    fresh W&B session (the SDK reads its folders once per process; the trainer and Dagster's
    run workers are fresh processes)."""
    home, dagster_home = tmp_path / "home", tmp_path / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    for name in WANDB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.teardown()
    yield home, dagster_home
    wandb.teardown()


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    yield from isolated_homes(tmp_path, monkeypatch)


def closed_port_url() -> str:
    """A local URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _as_launched(monkeypatch: pytest.MonkeyPatch, resource: WandbResource) -> None:
    """The environment the checkpoint asset gives the trainer process."""
    for name, value in resource.subprocess_env().items():
        monkeypatch.setenv(name, value)


def _config(bins: Path, out: Path, **overrides) -> TrainConfig:
    return TrainConfig(bins_dir=str(bins), out_dir=str(out), wandb_project="tsr-test",
                       **{**FAST, **overrides})


def _files_holding(text: str, folder: Path) -> list[str]:
    found = subprocess.run(["grep", "-rlF", text, str(folder)], capture_output=True, text=True)
    return found.stdout.split()


def test_a_run_without_a_key_logs_offline_files_and_writes_no_netrc(
        byte_bins: Path, tmp_path: Path, homes: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home, dagster_home = homes
    _as_launched(monkeypatch, WandbResource(project="tsr-test"))
    out = tmp_path / "checkpoint"
    summary = train(_config(byte_bins, out, max_steps=3, eval_every=3))
    assert summary["steps"] == 3
    runs = list((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert "(offline)" in capsys.readouterr().out
    # Nothing of W&B's in the home folder (no ~/.netrc, ~/.config/wandb, ~/.cache/wandb):
    # its own files are under the Dagster home.
    assert not (home / ".netrc").exists() and list(home.rglob("*")) == []
    assert (dagster_home / "wandb" / "cache").is_dir()


def test_a_key_with_an_unreachable_host_costs_seconds_and_logs_offline(
        byte_bins: Path, tmp_path: Path, homes: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    home, dagster_home = homes
    host = closed_port_url()
    _as_launched(monkeypatch, WandbResource(project="tsr-test", host=host, api_key=FAKE_KEY))
    out = tmp_path / "checkpoint"
    budget = 2.0
    started = time.monotonic()
    summary = train(_config(byte_bins, out, max_steps=10**6, max_seconds=budget))
    took = time.monotonic() - started
    log = capsys.readouterr().out
    with capsys.disabled():
        print(f"\n{budget} s of training with a key and W&B unreachable took {took:.1f} s")
    assert summary["stop_reason"] == "max_seconds" and summary["steps"] > 0
    assert took < budget + 30
    assert f"W&B unreachable at {host}: logging offline" in log
    assert "W&B run" in log and "(offline)" in log
    assert len(list((out / "wandb").glob("offline-run-*"))) == 1
    # The key is in no file: not the run's, not W&B's own, not a netrc.
    assert _files_holding(FAKE_KEY, tmp_path) == []
    assert not (home / ".netrc").exists() and list(home.rglob("*")) == []


def test_the_probe_answers_for_a_listening_port_and_not_for_a_closed_one() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert host_answers(f"http://127.0.0.1:{server.getsockname()[1]}", timeout_s=2.0)
    started = time.monotonic()
    assert not host_answers(closed_port_url(), timeout_s=2.0)
    assert not host_answers("http://no-such-host.invalid", timeout_s=2.0)
    assert time.monotonic() - started < 5.0
