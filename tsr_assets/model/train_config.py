"""What one training run needs: `TrainConfig`, its defaults, and the learning-rate schedule.

No torch here, so the Dagster config and the CLI can read the defaults without loading it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: The bound names a field may carry, with how each reads and whether a value passes.
BOUNDS: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "ge": ("greater than or equal to", lambda v, b: v >= b),
    "gt": ("greater than", lambda v, b: v > b),
    "le": ("less than or equal to", lambda v, b: v <= b),
    "lt": ("less than", lambda v, b: v < b),
}


def _setting(default, doc: str, **limits: float):
    """A field of `TrainConfig` with its description and its limits (`ge`, `gt`, `le`, `lt`):
    the Dagster config, the flags and `check_config` all read them; the field is declared
    once, here."""
    unknown = set(limits) - set(BOUNDS)
    if unknown:
        raise TypeError(f"unknown limits {sorted(unknown)}")
    return field(default=default, metadata={"doc": doc, "limits": limits})


def field_limits(item: dataclasses.Field) -> dict[str, float]:
    """The limits declared on a `TrainConfig` field (empty when none)."""
    return dict(item.metadata.get("limits", {}))


@dataclass
class TrainConfig:
    """Everything one training run needs; command-line flags mirror the field names, and the
    Dagster run config of `checkpoint_<preset>` is generated from these fields."""

    bins_dir: str = _setting("", "Token bins folder (train.bin, val.bin, meta.json).")
    out_dir: str = _setting("", "Checkpoint folder (last.pt, best.pt, metrics, summary).")
    preset: str = _setting("tiny", "Model size preset (model/presets.py).")
    #: The preset's shape and settings (`Preset` fields) when the preset is declared outside
    #: `model/presets.py` (a `ModelPreset` component); empty: looked up by `preset`.
    preset_shape: dict = field(default_factory=dict)
    recipe: str | None = _setting(
        None, "nanogpt or modern. Empty: the preset's (`e512_l6_modern`), else the resumed "
        "checkpoint's, else that of `init_from`, else the default recipe (modern).")
    n_layer: int | None = _setting(None, "Layers (empty: the preset's).", ge=1)
    n_embd: int | None = _setting(None, "Width (empty: the preset's).", ge=1)
    n_head: int | None = _setting(None, "Attention heads (empty: the preset's).", ge=1)
    block_size: int | None = _setting(None, "Context length (empty: the preset's).", ge=1)
    learning_rate: float | None = _setting(None, "Peak learning rate (empty: the preset's).", gt=0)
    batch_size: int | None = _setting(None, "Sequences per micro-batch (empty: the preset's).",
                                      ge=1)
    dropout: float = _setting(0.0, "Dropout.", ge=0, lt=1)
    grad_accum: int = _setting(1, "Micro-batches per optimizer step.", ge=1)
    max_steps: int = _setting(2000, "Stop after this many optimizer steps.", ge=1)
    max_seconds: float | None = _setting(None, "Wall-clock budget; stops first if shorter.", gt=0)
    warmup_steps: int = _setting(100, "Linear warmup steps.", ge=0)
    min_lr_ratio: float = _setting(0.1, "The schedule ends at this share of the peak.", ge=0, le=1)
    schedule: str = _setting("cosine", "After warmup: cosine or wsd (warmup, stable, then a "
                             "linear decay over `decay_fraction`).")
    decay_fraction: float = _setting(0.2, "wsd: share of the run spent decaying.", gt=0, le=1)
    decay_steps: int | None = _setting(
        None, "Step where the schedule reaches its minimum (empty: `max_steps`). With "
        "`max_seconds` it also ends when the time is up, whichever comes first.", ge=1)
    muon_lr: float = _setting(0.02, "modern: Muon's learning rate for the blocks' matrices.", gt=0)
    muon_momentum: float = _setting(0.95, "modern: Muon's Nesterov momentum.", ge=0, lt=1)
    weight_decay: float = _setting(0.1, "AdamW weight decay (matrices only).", ge=0)
    beta1: float = _setting(0.9, "AdamW beta1.", ge=0, lt=1)
    beta2: float = _setting(0.95, "AdamW beta2.", ge=0, lt=1)
    grad_clip: float = _setting(1.0, "Gradient norm clipping.", ge=0)
    eval_every: int = _setting(100, "Evaluate (and checkpoint) every N steps.", ge=1)
    eval_batches: int = _setting(20, "Batches per evaluation.", ge=1)
    checkpoint_every: int | None = _setting(None, "Save last.pt every N steps (empty: at "
                                            "every evaluation).", ge=1)
    log_every: int = _setting(10, "Progress line every N steps.", ge=1)
    seed: int = _setting(1337, "Seed.", ge=0)
    device: str = _setting("auto", "auto, cpu, cuda, cuda:N or mps.")
    dtype: str = _setting("auto", "auto (bf16 on CUDA, fp16 with a gradient scaler on GPUs "
                          "without bf16, fp32 elsewhere), float32, bfloat16, float16.")
    compile: bool = _setting(False, "torch.compile the model.")
    resume: bool = _setting(True, "Continue from out_dir/last.pt when present.")
    init_from: str | None = _setting(None, "Start from this checkpoint's (or model's) weights.")
    peak_flops: float | None = _setting(None, "Device peak FLOP/s for MFU (known GPUs: by "
                                        "name; none on CPU).", gt=0)
    wandb_project: str | None = _setting(None, "W&B project (empty: W&B off).")
    wandb_run_name: str | None = _setting(None, "W&B run name.")
    wandb_mode: str | None = _setting(None, "online or offline (default offline without "
                                      "WANDB_API_KEY).")
    tags: dict = field(default_factory=dict,
                       metadata={"doc": "Stored in the summary (language, tokenizer...)."})


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
    for item in dataclasses.fields(cfg):
        value = getattr(cfg, item.name)
        if value is None or isinstance(value, bool):
            continue
        for bound, limit in field_limits(item).items():
            words, passes = BOUNDS[bound]
            if not passes(value, limit):
                raise ValueError(f"{item.name} = {value!r}: must be {words} {limit:g}")


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
