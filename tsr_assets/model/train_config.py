"""What one training run needs: `TrainConfig`, its defaults, and the learning-rate schedule.

No torch here, so the Dagster config and the CLI can read the defaults without loading it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class TrainConfig:
    """Everything one training run needs; command-line flags mirror the field names."""

    bins_dir: str = ""
    out_dir: str = ""
    preset: str = "tiny"
    # Overrides of the preset's shape and settings (None: the preset's value).
    n_layer: int | None = None
    n_embd: int | None = None
    n_head: int | None = None
    block_size: int | None = None
    learning_rate: float | None = None
    batch_size: int | None = None
    dropout: float = 0.0
    grad_accum: int = 1
    max_steps: int = 2000
    max_seconds: float | None = None
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_batches: int = 20
    checkpoint_every: int | None = None  # steps; default: at every evaluation
    log_every: int = 10
    seed: int = 1337
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    dtype: str = "auto"  # auto (bf16 on CUDA if supported, else fp32), float32, bfloat16
    compile: bool = False
    resume: bool = True  # continue from out_dir/last.pt if present
    init_from: str | None = None  # start from this checkpoint's weights (fine-tune)
    peak_flops: float | None = None  # device peak for MFU; default by GPU name, none on CPU
    wandb_project: str | None = None
    wandb_run_name: str | None = None
    wandb_mode: str | None = None  # online, offline; default offline without WANDB_API_KEY
    tags: dict = field(default_factory=dict)  # stored in the summary (language, tokenizer...)


#: The defaults, for configuration layers that expose some of the fields (Dagster, CLI).
TRAIN_DEFAULTS = TrainConfig()


def lr_at(step: int, cfg: TrainConfig, max_lr: float) -> float:
    """Linear warmup to `max_lr`, then cosine decay to `min_lr_ratio * max_lr` at max_steps."""
    min_lr = max_lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return max_lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.max_steps:
        return min_lr
    progress = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (max_lr - min_lr)


def bits_per_byte(loss_nats: float, tokens: int, nbytes: int) -> float:
    """Bits per UTF-8 byte: mean loss per token (nats) times tokens per byte, in bits.

    Comparable across tokenizers, unlike per-token loss. `tokens` counts the bins' tokens
    including the bos/eos framing, `nbytes` the stories' UTF-8 bytes.
    """
    if nbytes <= 0:
        raise ValueError("no bytes: cannot compute bits per byte")
    return loss_nats * tokens / nbytes / math.log(2)
