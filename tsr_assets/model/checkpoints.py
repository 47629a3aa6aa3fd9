"""Checkpoint files: written atomically, read back with errors that say what is wrong."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from tsr_assets.core.atomic_files import temp_path_for

REQUIRED_KEYS = ("model", "model_config", "step")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not a checkpoint of this platform."""


def save_checkpoint(state: dict, path: Path) -> None:
    """`torch.save` to a temporary name, fsync, then rename: a kill never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        with tmp.open("wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint and check it has a model, its config and a step.

    Raises:
        CheckpointError: naming the file, for a missing, truncated, corrupt or foreign file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint {path} does not exist. Train first (materialize the checkpoint "
            "asset), or point `init_from` at an existing .pt file."
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # torch raises several types for damaged files
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}). The file is "
            "truncated or corrupt: delete it to start over, or restore it from a copy."
        ) from exc
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        found = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"checkpoint {path} is not a TinyStories Regional checkpoint: it needs the keys "
            f"{', '.join(REQUIRED_KEYS)}, found {found}"
        )
    return state


def checkpoint_recipe(path: Path) -> str | None:
    """The recipe a checkpoint was trained with (`nanogpt` for checkpoints older than
    recipes), or None when there is no readable checkpoint at `path`. Memory-maps the file:
    cheap even for large models."""
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception:  # unreadable: restore() reports it properly
        return None
    if not isinstance(state, dict):
        return None
    return state.get("recipe") or "nanogpt"
