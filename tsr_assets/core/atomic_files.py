"""Atomic file writes: write to a temporary name in the same folder, then rename into place.

A killed process therefore never leaves a half-written file under the final name; at worst a
hidden `.<name>.tmp-*` file remains, which readers ignore and the next write replaces.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def temp_path_for(final: Path) -> Path:
    """A unique hidden temporary path beside `final` (same filesystem, so rename is atomic)."""
    return final.with_name(f".{final.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


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
