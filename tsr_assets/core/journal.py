"""Append-only JSONL journals: written line by line as results arrive, read back after a kill.

One durability rule for every journal (stories, judgments, training metrics): each line is
flushed to the operating system when written, so a killed process loses nothing it wrote;
lines reach the disk itself (fsync) at most once per `fsync_every_s` and on close, so a power
cut loses at most that much. Readers stop at a torn last line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

FSYNC_EVERY_S = 1.0


class Journal:
    """An append-only JSONL file; use as a context manager or call `close()`."""

    def __init__(self, path: Path, fsync_every_s: float = FSYNC_EVERY_S) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._fsync_every_s = fsync_every_s
        self._last_sync = time.monotonic()

    def write(self, record: dict) -> None:
        """Append one record as a JSON line (non-ASCII kept readable)."""
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()
        if time.monotonic() - self._last_sync >= self._fsync_every_s:
            os.fsync(self._file.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        """Flush to disk and close (safe to call twice)."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_jsonl(path: Path) -> Iterator[dict]:
    """The records of `path` in order (none if it does not exist).

    Stops at a last line without its newline (a write cut by a kill) and skips lines that are
    not JSON objects, so a journal or metrics file is always readable.
    """
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:  # absent, or compacted away a moment ago
        return
    with handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
