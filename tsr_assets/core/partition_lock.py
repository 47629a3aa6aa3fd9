"""One writer per partition: an exclusive lock on a partition of the data lake.

Whatever writes a partition (stories, judge journals, tokenizer, token bins, checkpoints,
samples) holds `partition_lock` for it. The lock is a POSIX `flock` on a small file under
`<lake>/.locks/`, so the operating system releases it when its holder dies, even by SIGKILL:
no stale lock blocks the next run. The file holds who took the lock and when, for the message
a second writer gets. (`flock` is per machine; on a shared volume across machines use a
file system that supports it, or run one writer per partition by scheduling.)
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

LOCKS_FOLDER = ".locks"


class PartitionBusy(RuntimeError):
    """Another run holds the partition's lock (and did not let go within the wait)."""


def lock_file(lake_root: Path, asset: str, partition: str) -> Path:
    """The lock file of one partition of one asset."""
    safe = partition.replace("|", ".").replace("/", "_")
    return lake_root / LOCKS_FOLDER / asset / f"{safe}.lock"


def _holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _busy_message(asset: str, partition: str, holder: dict, waited_s: float) -> str:
    who = f"run {holder.get('holder', '?')}" if holder else "another run"
    since = f" since {holder['since']}" if holder.get("since") else ""
    where = f" (pid {holder.get('pid')} on {holder.get('host')})" if holder.get("pid") else ""
    wait = f"; waited {waited_s:.0f}s" if waited_s else ""
    return (f"partition {partition} of {asset} is being written by {who}{since}{where}{wait}. "
            "Wait for it to finish, or raise the data_lake resource's lock_wait_s to queue "
            "behind it.")


@contextmanager
def partition_lock(lake_root: Path, asset: str, partition: str, holder: str,
                   wait_s: float = 0.0, poll_s: float = 0.2) -> Iterator[Path]:
    """Hold the exclusive lock of `asset`'s `partition` for the `with` block.

    Waits up to `wait_s` seconds for another holder, then raises `PartitionBusy` naming it.
    """
    path = lock_file(lake_root, asset, partition)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - started
                if waited >= wait_s:
                    raise PartitionBusy(_busy_message(asset, partition, _holder(fd),
                                                      waited)) from None
                time.sleep(poll_s)
        record = {"holder": holder, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode("utf-8"), 0)
        try:
            yield path
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
