"""The loss a model reaches on fixed windows of the train and val bins: what the trainer
reports at each evaluation and what an imported model is measured by (no trainer needed)."""

from __future__ import annotations

import numpy as np
import torch

from tsr_assets.model.batches import Bins
from tsr_assets.model.gpt import GPT
from tsr_assets.model.train_config import TrainConfig


@torch.no_grad()
def evaluate(model: GPT, bins: Bins, cfg: TrainConfig, block_size: int, batch_size: int,
             device: torch.device, autocast) -> dict[str, float]:
    """Mean loss on the same `eval_batches` windows of each split every time (fixed seed)."""
    model.eval()
    out = {}
    for split in ("train", "val"):
        generator = torch.Generator().manual_seed(cfg.seed + 10_000)
        losses = []
        for _ in range(cfg.eval_batches):
            x, y = bins.batch(split, batch_size, block_size, generator, device)
            with autocast:
                _, loss = model(x, y)
            losses.append(loss.item())
        out[split] = float(np.mean(losses))
    model.train()
    return out
