"""Which device runs a model: the one rule the trainer, the sampler and the translator share.

It lives in `core` because the translator (`translation/`) sits beside `model/` and may not
import it. torch is imported when a device is resolved, so `core` stays light to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(setting: str = "auto") -> torch.device:
    """The device a setting names: `auto` is CUDA when present, else Apple's `mps`, else the
    CPU; `cpu`, `cuda`, `cuda:N` and `mps` are taken as given.

    Raises:
        ValueError: `mps` was asked for on a machine without an Apple GPU.
    """
    import torch

    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if setting == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for, but this machine has no Apple GPU "
                         "(torch.backends.mps.is_available() is False)")
    return torch.device(setting)
