"""Durable storage of generated stories for one language: a journal, compacted into parquet.

Layout under `<data lake>/stories/<language>/`:

    journal/<run>.jsonl       one JSON line per finished story, rejection or failure, appended
                              and flushed as results arrive (a kill loses only requests in
                              flight; a torn last line is ignored)
    shards/part-*.parquet     the stories dataset: prompt_id, story, provider, model, attempts,
                              latency_s, created_at (each written atomically)
    rejections/part-*.parquet answers that failed validation: reason and a raw snippet
    failures/part-*.parquet   prompts that used up their attempts, with the last reason

`compact()` moves journal lines into parquet shards, skipping prompt_ids already stored, so a
crash between writing a shard and deleting its journal never creates duplicates.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tsr_assets.atomic_files import atomic_path
from tsr_assets.jsonl_files import read_jsonl

STORY_SCHEMA = {
    "prompt_id": pl.String,
    "story": pl.String,
    "provider": pl.String,
    "model": pl.String,
    "attempts": pl.Int32,
    "latency_s": pl.Float64,
    "created_at": pl.Datetime("us", "UTC"),
}
REJECTION_SCHEMA = {
    "prompt_id": pl.String,
    "attempt": pl.Int32,
    "reason": pl.String,
    "snippet": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}
FAILURE_SCHEMA = {
    "prompt_id": pl.String,
    "attempts": pl.Int32,
    "reason": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}
KINDS = {"story": ("shards", STORY_SCHEMA), "rejection": ("rejections", REJECTION_SCHEMA),
         "failure": ("failures", FAILURE_SCHEMA)}


def now_utc() -> str:
    """The current time as an ISO-8601 UTC string."""
    return datetime.now(UTC).isoformat()


class StoryJournal:
    """Append-only JSONL journal of one run; each line is flushed to the OS when written."""

    def __init__(self, folder: Path, fsync_every_s: float = 1.0) -> None:
        self.path = folder / "journal" / f"{int(time.time())}-{uuid.uuid4().hex[:8]}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a", encoding="utf-8")
        self._fsync_every_s = fsync_every_s
        self._last_sync = time.monotonic()

    def write(self, kind: str, record: dict) -> None:
        """Append one record (`kind` is story, rejection or failure)."""
        self._file.write(json.dumps({"kind": kind, **record}, ensure_ascii=False) + "\n")
        self._file.flush()
        if time.monotonic() - self._last_sync >= self._fsync_every_s:
            os.fsync(self._file.fileno())
            self._last_sync = time.monotonic()

    def close(self) -> None:
        """Flush to disk and close."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def _journal_records(folder: Path) -> Iterator[tuple[Path, dict]]:
    for path in sorted((folder / "journal").glob("*.jsonl")):
        for record in read_jsonl(path):
            yield path, record


def shard_files(folder: Path, kind: str = "story") -> list[Path]:
    """The parquet shards of one kind, oldest first (hidden temp files excluded)."""
    return sorted((folder / KINDS[kind][0]).glob("part-*.parquet"))


def read_table(folder: Path, kind: str = "story", columns: list[str] | None = None) -> pl.DataFrame:
    """All shards of one kind as one frame (empty with the right schema if none)."""
    files = shard_files(folder, kind)
    schema = KINDS[kind][1]
    if not files:
        empty = pl.DataFrame(schema=schema)
        return empty.select(columns) if columns else empty
    return pl.read_parquet(files, columns=columns)


def stored_prompt_ids(folder: Path) -> set[str]:
    """prompt_ids that already have a story, in shards or in not-yet-compacted journals."""
    ids = set(read_table(folder, "story", ["prompt_id"])["prompt_id"].to_list())
    ids.update(r["prompt_id"] for _, r in _journal_records(folder) if r.get("kind") == "story")
    return ids


def _write_shard(folder: Path, kind: str, rows: list[dict]) -> Path | None:
    if not rows:
        return None
    subdir, schema = KINDS[kind]
    frame = pl.DataFrame(
        [{k: r.get(k) for k in schema if k != "created_at"} | {"created_at": r["created_at"]}
         for r in rows],
        schema={**schema, "created_at": pl.String},
        orient="row",
    ).with_columns(pl.col("created_at").str.to_datetime(time_zone="UTC", time_unit="us"))
    name = f"part-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:6]}.parquet"
    out = folder / subdir / name
    with atomic_path(out) as tmp:
        frame.write_parquet(tmp)
    return out


def compact(folder: Path, rows_per_shard: int = 5000) -> dict[str, int]:
    """Move every journal's records into parquet shards, then delete the journals.

    Records stream through in slices of `rows_per_shard`, so memory stays flat however long
    the journal is. Stories whose prompt_id is already stored are dropped, so the dataset never
    holds a duplicate. Returns how many rows of each kind were added.
    """
    journals = sorted((folder / "journal").glob("*.jsonl"))
    added = {kind: 0 for kind in KINDS}
    if not journals:
        return added
    have = set(read_table(folder, "story", ["prompt_id"])["prompt_id"].to_list())
    rows: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for _, record in _journal_records(folder):
        kind = record.get("kind")
        if kind not in rows:
            continue
        if kind == "story":
            if record["prompt_id"] in have:
                continue
            have.add(record["prompt_id"])
        rows[kind].append(record)
        if len(rows[kind]) >= rows_per_shard:
            _write_shard(folder, kind, rows[kind])
            added[kind] += len(rows[kind])
            rows[kind] = []
    for kind, kind_rows in rows.items():
        _write_shard(folder, kind, kind_rows)
        added[kind] += len(kind_rows)
    for journal in journals:
        journal.unlink()
    return added
