"""Atomic file writes: write to a temporary name in the same folder, then rename into place.

A killed process therefore never leaves a half-written file under the final name; at worst a
hidden `.<name>.tmp-<pid>-<hex>` file remains, which readers ignore and the next run of the
partition removes (`remove_stale_temp_files`, called when a writer takes the partition's lock).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: `.<final name>.tmp-<pid>-<8 hex>`: what `temp_path_for` names a file being written.
TEMP_NAME = re.compile(r"^\..+\.tmp-(?P<pid>\d+)-[0-9a-f]{8}$")


def temp_path_for(final: Path) -> Path:
    """A unique hidden temporary path beside `final` (same filesystem, so rename is atomic)."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def writer_pid(path: Path) -> int | None:
    """The pid of the process that was writing the temporary file `path` (None when the name
    is not one of `temp_path_for`'s)."""
    match = TEMP_NAME.match(path.name)
    return int(match["pid"]) if match else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(folder: Path, lock_held: bool = True) -> list[Path]:
    """Delete the temporary files under `folder` (recursively) that no live writer owns, and
    return them. With `lock_held` (the caller holds the lock of the partition `folder`
    belongs to, so no one else writes there) that is every temporary file but this process's
    own; without it, only those whose writer's pid is gone."""
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.rglob(".*.tmp-*"):
        pid = writer_pid(path)
        if pid is None or pid == os.getpid() or not path.is_file():
            continue
        if lock_held or not pid_alive(pid):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success rename it to `final`, on error delete it."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(final)
    try:
        yield tmp
        if tmp.exists():
            _fsync_file(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(final: str | Path, data: bytes) -> Path:
    """Write `data` to `final` atomically and return the final path."""
    with atomic_path(final) as tmp:
        tmp.write_bytes(data)
    return Path(final)


def write_text_atomic(final: str | Path, text: str) -> Path:
    """Write UTF-8 `text` to `final` atomically and return the final path."""
    return write_bytes_atomic(final, text.encode("utf-8"))


def write_json_atomic(final: str | Path, obj: Any) -> Path:
    """Write `obj` as pretty UTF-8 JSON (non-ASCII kept readable) to `final` atomically."""
    return write_text_atomic(final, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
