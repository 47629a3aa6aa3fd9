"""Reading append-only JSONL files that a killed process may have left with a torn last line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def read_jsonl(path: Path) -> Iterator[dict]:
    """The records of `path` in order (none if it does not exist).

    Stops at a last line without its newline (a write cut by a kill) and skips lines that are
    not JSON objects, so a journal or metrics file is always readable.
    """
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record
