"""Checkpoint files: written atomically, read back as data only, with errors that say what is
wrong.

Every `.pt` file is read with `torch.load(weights_only=True)`: tensors and plain Python values
(dicts, lists, tuples, numbers, strings, None) come back, and a file that would need any other
object, which unpickling would construct by running code, is refused before anything runs.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy._core import multiarray

from tsr_assets.core.atomic_files import temp_path_for

REQUIRED_KEYS = ("model", "model_config", "step")


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, or not a checkpoint of this platform."""


class UnsafeCheckpointError(CheckpointError):
    """A `.pt` file holds pickled objects other than tensors and plain data: it is refused."""


#: Plain values a checkpoint written elsewhere may hold besides tensors: numpy scalars and
#: arrays of numbers (a loss logged as `np.float64`). Loading them runs no code of the file's.
_NUMPY_DATA = [np.dtype, np.ndarray, multiarray.scalar, multiarray._reconstruct,
               *{type(np.dtype(c)) for c in "?bBhHiIlLqQefdgFDG"}]

CONVERT_HINT = (
    "Only tensors and plain values (dicts, lists, numbers, strings) are read from a .pt file. "
    "If you trust the file, convert it where it came from: save the weights as a transformers "
    "folder (config.json + model.safetensors, `model.save_pretrained(DIR)`) and import that "
    "folder, or re-save the checkpoint with plain values only (for nanoGPT: `torch.save("
    "{'model': model.state_dict(), 'model_args': dict(model_args)}, 'ckpt.pt')`)."
)


def _blocked_types(path: Path, exc: Exception) -> list[str]:
    """The Python types a refused file asks for (from its pickle, else from torch's message)."""
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not even a readable archive: fall back to the error text
        found = []
    safe = {f"{t.__module__}.{t.__qualname__}" for t in _NUMPY_DATA}
    found = [name for name in found if name not in safe]
    return sorted(set(found or re.findall(r"GLOBAL ([\w.]+)", str(exc))))


def read_torch_file(path: Path, map_location: str | torch.device = "cpu",
                    mmap: bool = False) -> Any:
    """`torch.load` of a file as data only (`weights_only=True`); nothing in it is executed.

    Raises:
        UnsafeCheckpointError: the file holds other objects (naming their types and the fix).
        CheckpointError: the file is truncated or not a torch file.
    """
    try:
        with torch.serialization.safe_globals(_NUMPY_DATA):
            return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises several types for damaged files
        types = _blocked_types(path, exc) if isinstance(exc, pickle.UnpicklingError) else []
        if types:
            raise UnsafeCheckpointError(
                f"{path} was refused: it holds pickled Python objects ({', '.join(types)}) "
                f"that could run code when loaded, and nothing of it was loaded. {CONVERT_HINT}"
            ) from exc
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__}: {str(exc)[:200]}). The "
            "file is truncated or corrupt: delete it to start over, or restore it from a copy."
        ) from exc


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
    state = read_torch_file(path, map_location)
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
        state = read_torch_file(path, mmap=True)
    except CheckpointError:  # unreadable or refused: restore() reports it properly
        return None
    if not isinstance(state, dict):
        return None
    return state.get("recipe") or "nanogpt"
