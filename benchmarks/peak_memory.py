"""Peak resident memory of the current process, measured the way that survives fork + exec.

`resource.getrusage(RUSAGE_SELF).ru_maxrss` is carried across execve on Linux, so a worker
started from a large parent reports the parent's size; VmHWM in /proc/self/status belongs to
the worker's own address space.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak RSS of this process in MiB (VmHWM on Linux, ru_maxrss elsewhere)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
