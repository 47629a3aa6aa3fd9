"""What a training run writes as it goes: the loss curve (`metrics.jsonl`, W&B) and its
throughput (tokens per second, MFU)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from tsr_assets.core.atomic_files import write_text_atomic
from tsr_assets.core.journal import Journal, read_jsonl
from tsr_assets.model.distributed import peak_flops_for

if TYPE_CHECKING:
    from tsr_assets.model.training_run import Run, TrainState


class MetricsLog:
    """`metrics.jsonl` (rank 0 only) and W&B. Per-step losses stay on the device until
    `flush`, so the CPU does not wait for the GPU at every step."""

    def __init__(self, run: Run, history: list[dict]) -> None:
        self._telemetry = run.telemetry
        self._grad_accum = run.cfg.grad_accum
        self._journal = None
        if run.dist.is_main:
            write_text_atomic(run.files.metrics, "".join(json.dumps(r) + "\n" for r in history))
            self._journal = Journal(run.files.metrics)
        self._pending: list[tuple[dict, torch.Tensor]] = []

    def write(self, row: dict) -> None:
        """Append one row now."""
        if self._journal:
            self._journal.write(row)
        self._telemetry.wandb_log(row)

    def add_step(self, row: dict, loss: torch.Tensor) -> None:
        """Queue a step's row; its loss is read at the next flush."""
        self._pending.append((row, loss.detach()))

    def flush(self) -> float:
        """Write the queued rows with their losses; returns the last loss."""
        if not self._pending:
            return math.nan
        losses = (torch.stack([t for _, t in self._pending]) * self._grad_accum).tolist()
        for (row, _), value in zip(self._pending, losses, strict=True):
            self.write({**row, "train_loss": value})
        self._pending.clear()
        return losses[-1]

    def close(self) -> None:
        """Close the file."""
        if self._journal:
            self._journal.close()


def read_metrics(path: Path, up_to_step: int | None = None) -> list[dict]:
    """Rows of `metrics.jsonl` (all, or those at or before `up_to_step`)."""
    return [row for row in read_jsonl(path)
            if up_to_step is None or row.get("step", 0) <= up_to_step]


class Throughput:
    """Tokens per second and MFU over the steps since the last progress line."""

    def __init__(self, run: Run) -> None:
        self.peak = peak_flops_for(run.device, run.cfg.peak_flops)
        self._flops_per_token = run.raw_model.flops_per_token()
        self._world_size = run.dist.world_size
        self._device = run.device
        self._started, self.tokens = time.monotonic(), 0

    def measure(self, state: TrainState) -> None:
        """Update `state.tokens_per_s` and `state.mfu`, and start a new window."""
        if self._device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.monotonic() - self._started
        state.tokens_per_s = self.tokens / elapsed if elapsed > 0 else 0.0
        state.mfu = (self._flops_per_token * state.tokens_per_s / (self.peak * self._world_size)
                     if self.peak else None)
        self._started, self.tokens = time.monotonic(), 0
