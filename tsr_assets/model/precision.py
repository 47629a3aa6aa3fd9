"""The numeric precision of a run: bf16 autocast on CUDA that has it, fp16 on older CUDA, fp32
elsewhere."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch


def precision_for(device: torch.device, dtype_setting: str) -> str:
    """float32, bfloat16 or float16: `auto` is bf16 on CUDA that has it, fp16 on older CUDA
    (T4, P100), fp32 elsewhere."""
    if dtype_setting != "auto":
        return dtype_setting
    if device.type != "cuda":
        return "float32"
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def autocast_for(device: torch.device, dtype_setting: str) -> tuple[AbstractContextManager, str]:
    """The autocast context of a run and the name of its precision."""
    precision = precision_for(device, dtype_setting)
    if precision == "float32":
        return nullcontext(), precision
    return torch.autocast(device_type=device.type, dtype=getattr(torch, precision)), precision
