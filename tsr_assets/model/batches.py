"""The token bins as batches (random contiguous windows, nanoGPT's way) and the loss a model
reaches on fixed windows of them.

Shared by the trainer (its batches and its evaluations), imported models (measured on the same
windows as trained ones, without loading the trainer) and `benchmarks/train_bench.py`.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch

from tsr_assets.model.gpt import GPT
from tsr_assets.model.train_config import TrainConfig
from tsr_assets.tokenizers.token_bins import SPLITS, open_bins, read_meta


class Bins:
    """The token bins of one (language, tokenizer) as memmaps, and batches drawn from them."""

    def __init__(self, folder: Path) -> None:
        self.meta = read_meta(folder)
        self.splits = {split: open_bins(folder, split, self.meta) for split in SPLITS}

    def check_fits(self, block_size: int) -> None:
        """Both splits must hold more tokens than one window."""
        for split, ids in self.splits.items():
            if ids.size <= block_size + 1:
                raise ValueError(
                    f"{split}.bin has {ids.size} tokens, fewer than block_size + 1 = "
                    f"{block_size + 1}; add stories, raise val_share, or lower block_size")

    def batch(self, split: str, batch_size: int, block_size: int, generator: torch.Generator,
              device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """`batch_size` random windows of `block_size` tokens and their next-token targets."""
        ids = self.splits[split]
        starts = torch.randint(ids.size - block_size - 1, (batch_size,), generator=generator)
        windows = np.stack([ids[s:s + block_size + 1] for s in starts.tolist()]).astype(np.int64)
        xy = torch.from_numpy(windows)
        x, y = xy[:, :-1], xy[:, 1:]
        if device.type == "cuda":
            return (x.pin_memory().to(device, non_blocking=True),
                    y.pin_memory().to(device, non_blocking=True))
        return x.to(device), y.to(device)


@torch.no_grad()
def evaluate(model: GPT, bins: Bins, cfg: TrainConfig, block_size: int, batch_size: int,
             device: torch.device, autocast: AbstractContextManager) -> dict[str, float]:
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
