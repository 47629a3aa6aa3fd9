"""The two records of a training run: `Run`, what stays fixed (config, bins, model, optimizer,
precision, devices), and `TrainState`, what changes as it goes and a checkpoint restores."""

from __future__ import annotations

import math
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

import torch

from tsr_assets.core.lake import CheckpointFiles
from tsr_assets.model.batches import Bins
from tsr_assets.model.distributed import Distributed
from tsr_assets.model.gpt import GPT, GPTConfig
from tsr_assets.model.optimizers import Optimizers
from tsr_assets.model.telemetry import Telemetry
from tsr_assets.model.train_config import TrainConfig, bits_per_byte


@dataclass
class Run:
    """What stays fixed during one training run."""

    cfg: TrainConfig
    files: CheckpointFiles
    bins: Bins
    model_cfg: GPTConfig
    raw_model: GPT
    model: torch.nn.Module  # raw_model, compiled and/or wrapped in DDP
    optimizer: Optimizers
    autocast: AbstractContextManager
    precision: str
    dist: Distributed
    device: torch.device
    telemetry: Telemetry
    max_lr: float
    batch_size: int
    generator: torch.Generator
    started: float
    scaler: torch.amp.GradScaler | None = None
    #: The generator's state before the batch drawn last: that batch is drawn ahead of its
    #: step, so a checkpoint stores this state and a resume draws the same batch again.
    pending_rng: torch.Tensor | None = None

    @property
    def tokens_per_step(self) -> int:
        """Tokens one optimizer step consumes across every rank."""
        return (self.batch_size * self.model_cfg.block_size * self.cfg.grad_accum
                * self.dist.world_size)

    def batch(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The next random training (or validation) batch."""
        self.pending_rng = self.generator.get_state()
        return self.bins.batch(split, self.batch_size, self.model_cfg.block_size,
                               self.generator, self.device)

    def val_bits_per_byte(self, loss: float) -> float:
        """Bits per byte of a val loss, from the val split's token and byte counts."""
        val = self.bins.meta["splits"]["val"]
        return bits_per_byte(loss, val["tokens"], val["bytes"])


@dataclass
class TrainState:
    """What changes as the run goes (and what a checkpoint restores)."""

    step: int = 0
    tokens_seen: int = 0
    best_val: float = math.inf
    resumed_from: int | None = None
    steps_this_run: int = 0
    last_eval: dict[str, float] = field(default_factory=dict)
    last_eval_step: int = -1
    tokens_per_s: float = 0.0
    mfu: float | None = None
    stop_reason: str = "max_steps"
