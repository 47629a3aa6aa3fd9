"""A language's stories (and the prompts they came from) as a Hugging Face dataset folder.

`datasets.load_dataset(folder)` loads it: `data/train-*.parquet` and
`data/validation-*.parquet`, split by the same hash of prompt_id as the token bins (so the
validation stories are the ones no model of this language trained on), and a `README.md`
dataset card whose YAML header declares the splits.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tsr_assets.core.atomic_files import temp_path_for
from tsr_assets.core.lake import Lake
from tsr_assets.stories.store import load_limits, read_table, shard_files
from tsr_assets.tokenizers.token_bins import DEFAULT_VAL_SHARE, val_mask

STORY_COLUMNS = ("prompt_id", "story", "provider", "model", "prompt_tokens",
                 "completion_tokens", "usage_estimated", "created_at")
PROMPT_COLUMNS = ("prompt_id", "noun", "verb", "adjective", "feature", "feature_en", "template",
                  "template_hash", "prompt")
SPLIT_FILES = {"train": "train-00000-of-00001.parquet",
               "validation": "validation-00000-of-00001.parquet"}


@dataclass
class DatasetFacts:
    """What a dataset card says about the data."""

    language: str
    rows: dict[str, int]
    sources: dict[str, int]
    template_hashes: dict[str, int] = field(default_factory=dict)
    wordlist_counts: dict[str, int] = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    rejections: dict[str, int] = field(default_factory=dict)
    attempts: int = 0


#: DuckDB's memory for the join of stories and prompts; past it, it spills to disk.
JOIN_MEMORY_LIMIT = "1GB"
#: Rows per record batch streamed from the join to the split files.
EXPORT_BATCH_ROWS = 20_000


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _joined_query(story_paths: list[Path], prompts_path: Path) -> str:
    """Every stored story with its prompt's words and text (nulls for imports), in store
    order: shards oldest first, rows as stored."""
    story_names = {name for path in story_paths for name in pq.read_schema(path).names}
    story_columns = [c for c in STORY_COLUMNS if c in story_names]
    select = [f's."{c}"' for c in story_columns]
    join = ""
    if prompts_path.is_file():
        available = set(pq.read_schema(prompts_path).names)
        select += [f'p."{c}"' for c in PROMPT_COLUMNS if c in available and c != "prompt_id"]
        join = (f"LEFT JOIN read_parquet('{str(prompts_path).replace(chr(39), chr(39) * 2)}') p"
                " USING (prompt_id)")
    return (f"SELECT {', '.join(select)} FROM read_parquet({_sql_list(story_paths)}, "
            "union_by_name = true, filename = true, file_row_number = true) s "
            f"JOIN shard_order o ON o.filename = s.filename {join} "
            "ORDER BY o.shard, s.file_row_number")


def _facts(lake: Lake, language: str, rows: dict[str, int], sources: Counter,
           hashes: Counter) -> DatasetFacts:
    wordlists = lake.wordlists_file(language)
    counts = json.loads(wordlists.read_text(encoding="utf-8"))["counts"] \
        if wordlists.is_file() else {}
    rejected = read_table(lake.stories_dir(language), "rejection", ["reason"])["reason"]
    return DatasetFacts(language, rows, dict(sources), dict(hashes), counts,
                        load_limits(lake.story_limits_file(language)).__dict__,
                        dict(Counter(rejected.to_list())), sum(rows.values()) + rejected.len())


def _write_splits(batches: pa.RecordBatchReader, data: Path, val_share: float
                  ) -> tuple[dict[str, int], Counter, Counter]:
    """Stream the joined rows into one parquet file per split; rows, sources and template
    hashes counted on the way."""
    rows = dict.fromkeys(SPLIT_FILES, 0)
    sources: Counter = Counter()
    hashes: Counter = Counter()
    writers: dict[str, pq.ParquetWriter] = {}
    try:
        for batch in batches:
            in_val = val_mask(batch.column("prompt_id").to_pylist(), val_share)
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            label = pl.when(pl.col("model").is_not_null() & (pl.col("model") != "")).then(
                pl.format("{} ({})", "provider", "model")).otherwise(pl.col("provider"))
            sources.update(dict(frame.select(label.alias("source"))["source"]
                                .value_counts().iter_rows()))
            if "template_hash" in frame.columns:
                hashes.update(dict(frame.filter(pl.col("template_hash").is_not_null()
                                                & (pl.col("template_hash") != ""))
                                   ["template_hash"].value_counts().iter_rows()))
            for split, keep in (("train", ~in_val), ("validation", in_val)):
                part = batch.filter(pa.array(keep))
                if split not in writers:
                    writers[split] = pq.ParquetWriter(data / SPLIT_FILES[split], batch.schema)
                writers[split].write_batch(part)
                rows[split] += part.num_rows
    finally:
        for writer in writers.values():
            writer.close()
    return rows, sources, hashes


def export_dataset(lake: Lake, language: str, out: Path,
                   render_card: Callable[[DatasetFacts], str],
                   val_share: float = DEFAULT_VAL_SHARE) -> DatasetFacts:
    """Write the dataset folder to `out` (replaced whole, atomically); returns its facts.

    Stories and prompts are joined by DuckDB (which spills to disk past `JOIN_MEMORY_LIMIT`)
    and streamed into the split files in record batches, so memory does not grow with the
    corpus. `render_card` turns the facts into the README.md (see `reports/cards.py`).
    """
    shards = shard_files(lake.stories_dir(language))
    if not shards:
        raise ValueError(f"no stories for {language}: materialize `stories` first")
    tmp = temp_path_for(out)
    try:
        (tmp / "data").mkdir(parents=True)
        order = pa.table({"filename": [str(p) for p in shards],
                          "shard": list(range(len(shards)))})
        with duckdb.connect(config={"memory_limit": JOIN_MEMORY_LIMIT,
                                    "temp_directory": str(tmp / ".spill"),
                                    "preserve_insertion_order": True}) as con:
            con.register("shard_order", order)
            reader = con.sql(_joined_query(shards, lake.prompts_file(language))
                             ).to_arrow_reader(EXPORT_BATCH_ROWS)
            rows, sources, hashes = _write_splits(reader, tmp / "data", val_share)
        shutil.rmtree(tmp / ".spill", ignore_errors=True)
        if not sum(rows.values()):
            raise ValueError(f"no stories for {language}: materialize `stories` first")
        facts = _facts(lake, language, rows, sources, hashes)
        (tmp / "README.md").write_text(render_card(facts), encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return facts
