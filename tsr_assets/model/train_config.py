"""What one training run needs: `TrainConfig`, its defaults, and the learning-rate schedule.

No torch here, so the Dagster config and the CLI can read the defaults without loading it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainConfig:
    """Everything one training run needs; command-line flags mirror the field names."""

    bins_dir: str = ""
    out_dir: str = ""
    preset: str = "tiny"
    #: nanogpt (the original study's GPT-2 and AdamW) or modern (see model/gpt.py, Muon).
    #: None: the preset's own (`e512_l6_nanogpt`), else the resumed checkpoint's, else that of
    #: `init_from`, else DEFAULT_RECIPE.
    recipe: str | None = None
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
    schedule: str = "cosine"  # cosine, or wsd (warmup, stable, then a linear decay)
    decay_fraction: float = 0.2  # wsd: the last share of the run that decays
    decay_steps: int | None = None  # the step where the learning rate reaches its minimum
    muon_lr: float = 0.02  # modern: Muon's learning rate for the blocks' matrices
    muon_momentum: float = 0.95
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
    dtype: str = "auto"  # auto (bf16 on CUDA if supported, else fp16 with a scaler on CUDA,
    # fp32 elsewhere), float32, bfloat16, float16
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


RECIPES = ("nanogpt", "modern")
#: The recipe of new runs that do not name one: `modern` reached nanogpt's validation bits per
#: byte in 0.40x the steps and 0.44x the wall time (benchmarks/recipe_bench.py, README).
DEFAULT_RECIPE = "modern"
SCHEDULES = ("cosine", "wsd")


def run_fraction(step: int, cfg: TrainConfig, elapsed_s: float | None = None) -> float:
    """How far after warmup the run is, 0 to 1: by steps (to `decay_steps`, default
    `max_steps`) or, with a wall-clock budget, by time if that is further along."""
    horizon = cfg.decay_steps or cfg.max_steps
    by_steps = (step - cfg.warmup_steps) / max(1, horizon - cfg.warmup_steps)
    by_time = elapsed_s / cfg.max_seconds if cfg.max_seconds and elapsed_s is not None else 0.0
    return min(1.0, max(0.0, by_steps, by_time))


def lr_at(step: int, cfg: TrainConfig, max_lr: float, elapsed_s: float | None = None) -> float:
    """Linear warmup to `max_lr`, then cosine decay (or warmup-stable-decay) to
    `min_lr_ratio * max_lr` at the decay horizon, or at `max_seconds` when time runs out
    first: a time-limited run still anneals."""
    min_lr = max_lr * cfg.min_lr_ratio
    if step < cfg.warmup_steps:
        return max_lr * (step + 1) / cfg.warmup_steps
    fraction = run_fraction(step, cfg, elapsed_s)
    if cfg.schedule == "wsd":
        remaining = min(1.0, (1.0 - fraction) / cfg.decay_fraction)
        return min_lr + (max_lr - min_lr) * remaining
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * fraction)) * (max_lr - min_lr)


def check_config(cfg: TrainConfig) -> None:
    """Refuse settings that cannot work, naming them."""
    if cfg.recipe is not None and cfg.recipe not in RECIPES:
        raise ValueError(f"recipe {cfg.recipe!r}: choose one of {', '.join(RECIPES)}")
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"schedule {cfg.schedule!r}: choose one of {', '.join(SCHEDULES)}")
    if not 0 < cfg.decay_fraction <= 1:
        raise ValueError("decay_fraction must be in (0, 1]")


def bits_per_byte(loss_nats: float, tokens: int, nbytes: int) -> float:
    """Bits per UTF-8 byte: mean loss per token (nats) times tokens per byte, in bits.

    Comparable across tokenizers, unlike per-token loss. `tokens` counts the bins' tokens
    including the bos/eos framing, `nbytes` the stories' UTF-8 bytes.
    """
    if nbytes <= 0:
        raise ValueError("no bytes: cannot compute bits per byte")
    return loss_nats * tokens / nbytes / math.log(2)


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    """Flags named like the `TrainConfig` fields, or `--config-json` (a JSON object or file)."""
    parser = argparse.ArgumentParser(prog="python -m tsr_assets.model.train",
                                     description="Train one model on token bins.")
    parser.add_argument("--config-json", help="JSON object or path to a JSON file")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "tags":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("bool",):
            parser.add_argument(flag, type=lambda s: s.lower() in {"1", "true", "yes"})
        else:
            parser.add_argument(flag, type=_caster(str(f.type)))
    args = parser.parse_args(argv)
    values: dict = {}
    if args.config_json:
        text = args.config_json
        values.update(json.loads(text if text.lstrip().startswith("{")
                                 else Path(text).read_text(encoding="utf-8")))
    for f in dataclasses.fields(TrainConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    unknown = set(values) - {f.name for f in dataclasses.fields(TrainConfig)}
    if unknown:
        parser.error(f"unknown settings: {', '.join(sorted(unknown))}")
    return TrainConfig(**values)


def _caster(type_name: str):
    if "int" in type_name:
        return int
    if "float" in type_name:
        return float
    return str
