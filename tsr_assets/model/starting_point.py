"""Where a run starts from: the recipe it trains with (config, preset, the checkpoint it resumes,
the weights it starts from, or the default) and the weights of `init_from` (a platform
checkpoint, or a model made elsewhere converted to the platform's layout)."""

from __future__ import annotations

from pathlib import Path

import torch

from tsr_assets.core.lake import CheckpointFiles
from tsr_assets.model.checkpoints import CheckpointError, checkpoint_recipe, load_checkpoint
from tsr_assets.model.hf_import import ExternalModelError, is_nanogpt_checkpoint, load_external
from tsr_assets.model.presets import get_preset
from tsr_assets.model.train_config import DEFAULT_RECIPE, TrainConfig


def resolve_recipe(cfg: TrainConfig) -> str:
    """The run's recipe: the config's, else the preset's, else (resuming) the checkpoint's,
    else that of the weights it starts from, else DEFAULT_RECIPE. A config that contradicts a
    recipe-named preset is an error."""
    fixed = get_preset(cfg.preset).recipe
    if cfg.recipe and fixed and cfg.recipe != fixed:
        raise ValueError(f"preset {cfg.preset!r} is always trained with recipe {fixed!r}, "
                         f"but the config asks for {cfg.recipe!r}: drop `recipe` or pick the "
                         "preset without the suffix")
    resumed = checkpoint_recipe(CheckpointFiles(Path(cfg.out_dir)).last) if cfg.resume else None
    return cfg.recipe or fixed or resumed or init_recipe(cfg.init_from) or DEFAULT_RECIPE


def init_recipe(source: str | None) -> str | None:
    """The recipe of the weights a fine-tune starts from: a platform checkpoint's own, and
    nanogpt for GPT-2 and nanoGPT models made elsewhere (their architecture)."""
    if not source:
        return None
    path = Path(source).expanduser()
    if path.suffix == ".pt" and not is_nanogpt_checkpoint(path):
        return checkpoint_recipe(path)
    return "nanogpt"


def init_weights(source: str, device: torch.device) -> dict:
    """Weights to start from: a platform checkpoint, or a nanoGPT `.pt`, a `transformers`
    GPT-2 folder or a Hub id converted to the platform's layout."""
    path = Path(source).expanduser()
    if path.suffix == ".pt" and not is_nanogpt_checkpoint(path):
        return load_checkpoint(path, device)  # the platform's own (or a clear error)
    try:
        model = load_external(source)
    except ExternalModelError as exc:
        raise CheckpointError(str(exc)) from exc
    return {"model": model.state_dict(), "model_config": model.config.to_dict(), "step": 0}
