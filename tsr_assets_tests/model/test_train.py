"""The standalone trainer: resume after SIGKILL, DDP on CPU, budgets, checkpoints, W&B."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tsr_assets.model.checkpoints import CheckpointError, load_checkpoint
from tsr_assets.model.train import train
from tsr_assets.model.train_config import TrainConfig, bits_per_byte, lr_at

BIN = Path(sys.executable).parent
FAST = dict(preset="tiny", n_layer=1, n_embd=32, n_head=2, block_size=64, batch_size=8,
            eval_batches=2, log_every=5)


def _config(bins: Path, out: Path, **overrides) -> TrainConfig:
    return TrainConfig(bins_dir=str(bins), out_dir=str(out), **{**FAST, **overrides})


def _metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_bits_per_byte_on_hand_computed_numbers() -> None:
    assert bits_per_byte(math.log(2), tokens=100, nbytes=50) == pytest.approx(2.0)
    assert bits_per_byte(1.5, tokens=300, nbytes=1000) == pytest.approx(0.45 / math.log(2))
    with pytest.raises(ValueError, match="no bytes"):
        bits_per_byte(1.0, 10, 0)


def test_learning_rate_warms_up_then_decays_to_its_floor() -> None:
    cfg = TrainConfig(warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg, 1.0) == pytest.approx(0.1)
    assert lr_at(9, cfg, 1.0) == pytest.approx(1.0)
    assert lr_at(60, cfg, 1.0) == pytest.approx(0.55)
    assert lr_at(110, cfg, 1.0) == pytest.approx(0.1)


def test_time_limited_runs_anneal_by_the_clock_and_wsd_holds_then_decays() -> None:
    cfg = TrainConfig(warmup_steps=10, max_steps=10**6, max_seconds=100.0, min_lr_ratio=0.1)
    # By steps a million-step run has barely started; by the clock it is half done or over.
    assert lr_at(500, cfg, 1.0, elapsed_s=50.0) == pytest.approx(0.55)
    assert lr_at(500, cfg, 1.0, elapsed_s=100.0) == pytest.approx(0.1)
    wsd = TrainConfig(warmup_steps=10, max_steps=110, schedule="wsd", decay_fraction=0.2,
                      min_lr_ratio=0.0)
    assert [lr_at(s, wsd, 1.0) for s in (10, 50, 90)] == pytest.approx([1.0, 1.0, 1.0])
    assert lr_at(100, wsd, 1.0) == pytest.approx(0.5) and lr_at(110, wsd, 1.0) == 0.0
    horizon = TrainConfig(warmup_steps=0, max_steps=1000, decay_steps=100, min_lr_ratio=0.1)
    assert lr_at(100, horizon, 1.0) == lr_at(900, horizon, 1.0) == pytest.approx(0.1)


def test_a_time_limited_run_ends_at_the_minimum_learning_rate(byte_bins: Path,
                                                              tmp_path: Path) -> None:
    summary = train(_config(byte_bins, tmp_path, max_steps=10**6, max_seconds=6.0,
                            eval_every=10**6, warmup_steps=2, log_every=1, learning_rate=1e-3,
                            min_lr_ratio=0.1))
    assert summary["stop_reason"] == "max_seconds" and summary["steps"] > 20
    lrs = [r["lr"] for r in _metrics(tmp_path) if "lr" in r]
    assert max(lrs) == pytest.approx(1e-3, rel=0.02)
    assert lrs[-1] < 1.1e-4  # within one step's time of 0.1 x max_lr
    assert lrs[2:] == sorted(lrs[2:], reverse=True)  # after warmup it only decays


def test_training_lowers_val_loss_and_keeps_the_best(byte_bins: Path, tmp_path: Path) -> None:
    summary = train(_config(byte_bins, tmp_path, max_steps=60, eval_every=20,
                            learning_rate=1e-2, warmup_steps=5))
    rows = [r for r in _metrics(tmp_path) if "val_loss" in r]
    assert [r["step"] for r in rows] == [20, 40, 60]
    assert rows[-1]["val_loss"] < rows[0]["val_loss"] < math.log(258)
    assert summary["best_val_loss"] == min(r["val_loss"] for r in rows)
    meta = json.loads((byte_bins / "meta.json").read_text())["splits"]["val"]
    assert summary["best_val_bits_per_byte"] == pytest.approx(
        summary["best_val_loss"] * meta["tokens"] / meta["bytes"] / math.log(2))
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["val_loss"] == summary["best_val_loss"]
    assert best["bins_meta"]["tokenizer"]["kind"] == "byte"
    assert summary["parameters"] > summary["parameters_non_embedding"] > 0
    assert summary["stop_reason"] == "max_steps" and summary["steps"] == 60


def test_wall_clock_budget_stops_the_run(byte_bins: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    summary = train(_config(byte_bins, tmp_path, max_steps=10**6, max_seconds=1.5,
                            eval_every=10**6))
    assert summary["stop_reason"] == "max_seconds" and 0 < summary["steps"] < 10**6
    assert time.monotonic() - started < 30
    assert summary["final_val_loss"] is not None  # evaluated once at the end


def test_resume_after_sigkill_continues_at_the_saved_step(byte_bins: Path, tmp_path: Path) -> None:
    args = ["--bins-dir", str(byte_bins), "--out-dir", str(tmp_path), "--max-steps", "5000",
            "--eval-every", "1000", "--checkpoint-every", "5", "--log-every", "1000",
            *[x for k, v in FAST.items() for x in (f"--{k.replace('_', '-')}", str(v))]]
    proc = subprocess.Popen([str(BIN / "python"), "-m", "tsr_assets.model.train", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metrics = tmp_path / "metrics.jsonl"
        if (tmp_path / "last.pt").is_file() and metrics.is_file() and \
                len(metrics.read_text().splitlines()) >= 23:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    before = {r["step"]: r["train_loss"] for r in _metrics(tmp_path) if "train_loss" in r}
    saved = load_checkpoint(tmp_path / "last.pt")["step"]
    assert saved >= 20 and saved % 5 == 0  # last.pt is whole even if the kill hit a save

    target = saved + 12
    summary = train(_config(byte_bins, tmp_path, max_steps=target, eval_every=1000,
                            checkpoint_every=5))
    assert summary["resumed_from_step"] == saved and summary["steps"] == target
    assert summary["steps_this_run"] == 12
    train_rows = [r for r in _metrics(tmp_path) if "train_loss" in r]
    assert [r["step"] for r in train_rows] == list(range(1, target + 1))
    # The curve before the checkpoint is kept as it was; after it, it continues from there.
    assert all(r["train_loss"] == before[r["step"]] for r in train_rows if r["step"] <= saved)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == target
    assert not list(tmp_path.glob(".*tmp*"))  # a temp file of the killed save is cleaned up


@pytest.mark.parametrize("recipe", ["nanogpt", "modern"])
def test_a_resumed_run_is_bit_for_bit_the_uninterrupted_one(byte_bins: Path, tmp_path: Path,
                                                              recipe: str) -> None:
    common = dict(recipe=recipe, decay_steps=16, warmup_steps=3, eval_every=1000,
                  checkpoint_every=8, log_every=1, learning_rate=3e-3)
    train(_config(byte_bins, tmp_path / "straight", max_steps=16, **common))
    train(_config(byte_bins, tmp_path / "resumed", max_steps=8, **common))
    halfway = load_checkpoint(tmp_path / "resumed" / "last.pt")
    assert halfway["recipe"] == recipe and halfway["step"] == 8
    if recipe == "modern":  # Muon's momentum buffers travel in the checkpoint
        muon_state = halfway["optimizer"]["optimizers"][0]["state"]
        assert muon_state and all("momentum_buffer" in v for v in muon_state.values())
    summary = train(_config(byte_bins, tmp_path / "resumed", max_steps=16, **common))
    assert summary["resumed_from_step"] == 8 and summary["recipe"] == recipe
    losses = [[r["train_loss"] for r in _metrics(tmp_path / name) if "train_loss" in r]
              for name in ("straight", "resumed")]
    assert len(losses[0]) == 16 and losses[0] == losses[1]
    final = [load_checkpoint(tmp_path / name / "last.pt")["model"]
             for name in ("straight", "resumed")]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_a_checkpoint_of_one_recipe_does_not_resume_as_the_other(byte_bins: Path,
                                                                 tmp_path: Path) -> None:
    train(_config(byte_bins, tmp_path, max_steps=2, eval_every=1000, recipe="nanogpt"))
    with pytest.raises(CheckpointError, match="trained with recipe 'nanogpt', this run asks "
                                              "for 'modern'.*resume: false"):
        train(_config(byte_bins, tmp_path, max_steps=4, eval_every=1000, recipe="modern"))
    # Without a recipe named, a resume continues with the checkpoint's.
    assert train(_config(byte_bins, tmp_path, max_steps=4, eval_every=1000))["recipe"] == \
        "nanogpt"
    with pytest.raises(ValueError, match="always trained with recipe 'modern'"):
        train(_config(byte_bins, tmp_path / "x", preset="tiny_modern", recipe="nanogpt"))
    fixed = train(_config(byte_bins, tmp_path / "fixed", preset="tiny_modern", max_steps=2,
                          eval_every=1000))
    assert fixed["recipe"] == "modern" and fixed["preset"] == "tiny_modern"


def test_fp16_with_a_gradient_scaler_trains_on_cpu(byte_bins: Path, tmp_path: Path) -> None:
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            torch.ones(2, 2) @ torch.ones(2, 2)
        torch.amp.GradScaler("cpu")
    except (RuntimeError, AttributeError) as error:
        pytest.skip(f"this torch has no fp16 autocast or gradient scaler on CPU: {error}")
    summary = train(_config(byte_bins, tmp_path, max_steps=30, eval_every=30, dtype="float16",
                            learning_rate=1e-2, warmup_steps=3))
    assert summary["precision"] == "float16"
    assert math.isfinite(summary["final_val_loss"]) and summary["final_val_loss"] < math.log(258)
    scaler = load_checkpoint(tmp_path / "last.pt")["scaler"]
    assert scaler and scaler["scale"] > 0


def test_two_process_torchrun_on_cpu_writes_one_checkpoint(byte_bins: Path,
                                                            tmp_path: Path) -> None:
    args = ["--bins-dir", str(byte_bins), "--out-dir", str(tmp_path), "--max-steps", "12",
            "--eval-every", "6", "--device", "cpu",
            *[x for k, v in FAST.items() for x in (f"--{k.replace('_', '-')}", str(v))]]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [str(BIN / "python"), "-m", "torch.distributed.run", "--standalone",
         "--nproc-per-node=2", "-m", "tsr_assets.model.train", *args],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 12
    assert summary["tokens_seen"] == 12 * 8 * 64 * 2
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["best.pt", "last.pt"]
    assert proc.stdout.count("val loss") == 2  # only rank 0 reports (steps 6 and 12)
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 12


def test_missing_corrupt_foreign_and_mismatched_checkpoints_are_clear(
    byte_bins: Path, tmp_path: Path
) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        train(_config(byte_bins, tmp_path / "a", init_from=str(tmp_path / "nope.pt")))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "last.pt").write_bytes(b"\x80\x02 not a checkpoint")
    with pytest.raises(CheckpointError, match=r"last\.pt cannot be read.*corrupt"):
        train(_config(byte_bins, tmp_path / "b"))
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a TinyStories Regional checkpoint"):
        train(_config(byte_bins, tmp_path / "c", init_from=str(tmp_path / "foreign.pt")))
    train(_config(byte_bins, tmp_path / "d", max_steps=2, eval_every=2))
    with pytest.raises(CheckpointError, match="n_embd: checkpoint 32 vs run 64"):
        train(_config(byte_bins, tmp_path / "e", n_embd=64,
                      init_from=str(tmp_path / "d" / "last.pt")))
    # The command line turns these into one clear line and exit status 2.
    proc = subprocess.run(
        [str(BIN / "python"), "-m", "tsr_assets.model.train", "--bins-dir", str(byte_bins),
         "--out-dir", str(tmp_path / "f"), "--init-from", str(tmp_path / "nope.pt")],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "nope.pt does not exist" in proc.stderr


def test_fine_tuning_starts_from_given_weights(byte_bins: Path, tmp_path: Path) -> None:
    first = train(_config(byte_bins, tmp_path / "base", max_steps=40, eval_every=40,
                          learning_rate=1e-2, warmup_steps=5))
    tuned = train(_config(byte_bins, tmp_path / "tuned", max_steps=1, eval_every=1,
                          learning_rate=1e-5, init_from=str(tmp_path / "base" / "best.pt")))
    assert tuned["steps"] == 1 and tuned["resumed_from_step"] is None
    assert tuned["final_val_loss"] < first["best_val_loss"] + 0.05


def test_wandb_logs_offline_without_a_key(byte_bins: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    summary = train(_config(byte_bins, tmp_path, max_steps=3, eval_every=3,
                            wandb_project="tsr-test"))
    assert summary["steps"] == 3
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    # Offline runs say they did not upload the checkpoint, and copy no checkpoint.
    assert "was not uploaded as an artifact" in capsys.readouterr().out
    assert not list((tmp_path / "wandb").rglob("*.pt"))
