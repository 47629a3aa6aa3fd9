"""Process groups for DDP under torchrun (NCCL on GPU, gloo on CPU); one process is rank 0 of 1."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

# Dense bf16 peak FLOP/s by device name fragment (first match wins), for MFU.
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40": 181e12, "L4": 121e12,
              "A10": 125e12, "4090": 165e12, "3090": 71e12, "V100": 125e12, "T4": 65e12}


@dataclass
class Distributed:
    """Rank information (a single process is rank 0 of 1)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and talks to Dagster."""
        return self.rank == 0


def setup_distributed(device_setting: str) -> tuple[Distributed, torch.device]:
    """Initialize DDP under torchrun (NCCL on CUDA, gloo on CPU) and choose the device."""
    want_cuda = device_setting.startswith("cuda") or (
        device_setting == "auto" and torch.cuda.is_available())
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        import torch.distributed as dist

        dist_info = Distributed(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)),
                                int(os.environ["WORLD_SIZE"]))
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
        if want_cuda:
            torch.cuda.set_device(dist_info.local_rank)
            return dist_info, torch.device("cuda", dist_info.local_rank)
        return dist_info, torch.device("cpu")
    if want_cuda:
        return Distributed(), torch.device(device_setting if device_setting != "auto" else "cuda")
    if device_setting == "mps" or (device_setting == "auto" and torch.backends.mps.is_available()):
        if not torch.backends.mps.is_available():
            raise ValueError("device 'mps' was asked for, but this machine has no Apple GPU "
                             "(torch.backends.mps.is_available() is False)")
        return Distributed(), torch.device("mps")
    return Distributed(), torch.device(device_setting if device_setting != "auto" else "cpu")


def teardown(dist_info: Distributed) -> None:
    """Leave the process group (nothing to do for one process)."""
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


def barrier(dist_info: Distributed) -> None:
    """Wait for every rank (nothing to do for one process)."""
    if dist_info.world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def agree(local: bool, dist_info: Distributed, device: torch.device) -> bool:
    """Rank 0's answer, on every rank (so all ranks stop at the same step)."""
    if dist_info.world_size == 1:
        return local
    import torch.distributed as dist

    flag = torch.tensor([1 if local else 0], device=device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def peak_flops_for(device: torch.device, configured: float | None) -> float | None:
    """The peak FLOP/s MFU is measured against: configured, else a known GPU's, else None."""
    if configured:
        return configured
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)
