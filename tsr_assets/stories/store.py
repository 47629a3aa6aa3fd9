"""Durable storage of generated stories for one language: a journal, compacted into parquet.

Layout under `<data lake>/stories/<language>/`:

    journal/<run>.jsonl       one JSON line per finished story, rejection or failure, appended
                              and flushed as results arrive (a kill loses only requests in
                              flight; a torn last line is ignored)
    shards/part-*.parquet     the stories dataset: prompt_id, story, provider, model, attempts,
                              latency_s, prompt_tokens, completion_tokens, usage_estimated,
                              source_chars (translations), created_at (written atomically)
    rejections/part-*.parquet answers that failed validation: reason, a raw snippet, tokens
    failures/part-*.parquet   prompts that used up their attempts, with the last reason

`compact()` moves journal lines into parquet shards, skipping prompt_ids already stored, so a
crash between writing a shard and deleting its journal never creates duplicates.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from tsr_assets.core.atomic_files import atomic_path, write_json_atomic
from tsr_assets.core.data_files import read_parquet_files
from tsr_assets.core.journal import Journal, read_jsonl
from tsr_assets.core.lake import JOURNAL_FOLDER, STORY_KIND_FOLDERS
from tsr_assets.stories.parsing import StoryLimits

STORY_SCHEMA = {
    "prompt_id": pl.String,
    "story": pl.String,
    "provider": pl.String,
    "model": pl.String,
    "attempts": pl.Int32,
    "latency_s": pl.Float64,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "usage_estimated": pl.Boolean,
    #: Characters of the source of a translated story (null for other stories).
    "source_chars": pl.Int64,
    #: The language a translated story was translated from (null: other stories, and
    #: translations made before the column existed, which were all from English).
    "source_language": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}
REJECTION_SCHEMA = {
    "prompt_id": pl.String,
    "attempt": pl.Int32,
    "reason": pl.String,
    "snippet": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "usage_estimated": pl.Boolean,
    "created_at": pl.Datetime("us", "UTC"),
}
FAILURE_SCHEMA = {
    "prompt_id": pl.String,
    "attempts": pl.Int32,
    "reason": pl.String,
    "created_at": pl.Datetime("us", "UTC"),
}
KINDS = {kind: (STORY_KIND_FOLDERS[kind], schema) for kind, schema in
         (("story", STORY_SCHEMA), ("rejection", REJECTION_SCHEMA), ("failure", FAILURE_SCHEMA))}


def now_utc() -> str:
    """The current time as an ISO-8601 UTC string."""
    return datetime.now(UTC).isoformat()


def open_journal(folder: Path) -> Journal:
    """A new journal for one run in the store at `folder`; records carry their `kind`
    (story, rejection or failure)."""
    name = f"{int(time.time())}-{uuid.uuid4().hex[:8]}.jsonl"
    return Journal(folder / JOURNAL_FOLDER / name)


def _journal_files(folder: Path) -> list[Path]:
    return sorted((folder / JOURNAL_FOLDER).glob("*.jsonl"))


def _journal_records(folder: Path) -> Iterator[tuple[Path, dict]]:
    for path in _journal_files(folder):
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
    # Shards written before a column existed read it as nulls.
    return read_parquet_files(files, damaged_shard_fix(folder), columns=columns,
                              missing_columns="insert")


def damaged_shard_fix(folder: Path) -> str:
    """What to do about a damaged shard of the story store in `folder`."""
    return (f"Move the damaged file out of {folder} (the stories it held are written again by "
            "the next run of the asset that fills it) or restore it from a copy; nothing was "
            "changed.")


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
    deduplicate_shards(folder, rows_per_shard)
    journals = _journal_files(folder)
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
        journal.unlink(missing_ok=True)
    return added


def deduplicate_shards(folder: Path, rows_per_shard: int = 5000) -> int:
    """Keep one story per prompt_id (the oldest) if the shards hold a prompt_id twice, e.g.
    written by two runs at once before partitions had one writer. Returns how many rows were
    dropped. New shards are written before the old ones are deleted, so a kill in between
    leaves duplicates for the next compaction, never a loss."""
    old = shard_files(folder, "story")
    ids = read_table(folder, "story", ["prompt_id"])["prompt_id"]
    if ids.n_unique() == ids.len():
        return 0
    table = read_table(folder, "story").unique("prompt_id", keep="first", maintain_order=True)
    for start in range(0, table.height, rows_per_shard):
        name = f"part-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:6]}"
        with atomic_path(folder / KINDS["story"][0] / f"{name}.parquet") as tmp:
            table.slice(start, rows_per_shard).write_parquet(tmp)
    for path in old:
        path.unlink(missing_ok=True)
    return ids.len() - table.height


def save_limits(path: Path, limits: StoryLimits) -> None:
    """Record the validation limits a run used, for the checks that read the store later."""
    write_json_atomic(path, dataclasses.asdict(limits))


def load_limits(path: Path) -> StoryLimits:
    """The limits the last run used (the defaults when no run recorded any)."""
    if not path.is_file():
        return StoryLimits()
    return StoryLimits(**json.loads(path.read_text(encoding="utf-8")))
