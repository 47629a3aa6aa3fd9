"""A language's stories (and the prompts they came from) as a Hugging Face dataset folder.

`datasets.load_dataset(folder)` loads it: `data/train-*.parquet` and
`data/validation-*.parquet` (one file of each per `JOIN_CHUNK_ROWS` stories), split by the
same hash of prompt_id as the token bins (so the validation stories are the ones no model of
this language trained on), and a `README.md` dataset card whose YAML header declares the
splits.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from tsr_assets.core.atomic_files import temp_path_for
from tsr_assets.core.data_files import check_parquet_files
from tsr_assets.core.lake import Lake
from tsr_assets.stories.store import damaged_shard_fix, load_limits, read_table, shard_files
from tsr_assets.tokenizers.token_bins import DEFAULT_VAL_SHARE, val_mask

STORY_COLUMNS = ("prompt_id", "story", "provider", "model", "prompt_tokens",
                 "completion_tokens", "usage_estimated", "created_at")
PROMPT_COLUMNS = ("prompt_id", "noun", "verb", "adjective", "feature", "feature_en", "template",
                  "template_hash", "prompt")
SPLITS = ("train", "validation")


def split_file(split: str, index: int, count: int) -> str:
    """The name of one of a split's parquet files, as the Hub names them."""
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


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


#: Stories per file of each split: the export holds one such chunk of stories and their
#: prompts at a time (about 1 GB at 250,000 Hindi stories), whatever the corpus' size.
JOIN_CHUNK_ROWS = 250_000


def _shard_chunks(story_paths: list[Path], rows_per_chunk: int) -> list[list[Path]]:
    """Consecutive shards grouped into chunks of at most `rows_per_chunk` stories (a larger
    shard is a chunk of its own), counted from the footers."""
    chunks: list[list[Path]] = []
    rows = 0
    for path in story_paths:
        shard_rows = pq.read_metadata(path).num_rows
        if not chunks or rows + shard_rows > rows_per_chunk:
            chunks.append([])
            rows = 0
        chunks[-1].append(path)
        rows += shard_rows
    return chunks


def _joined_chunks(chunks: list[list[Path]], prompts_path: Path) -> Iterator[pl.DataFrame]:
    """Each chunk of shards as one frame: every story with its prompt's words and text (nulls
    for imports), in store order (shards oldest first, rows as stored), reading only the
    chunk's own prompts. A column that only newer shards have is null in the older ones."""
    schema: dict[str, pl.DataType] = {}
    for path in (path for chunk in chunks for path in chunk):
        for name, dtype in pl.read_parquet_schema(path).items():
            schema.setdefault(name, dtype)
    story_columns = [c for c in STORY_COLUMNS if c in schema]
    prompt_columns = []
    if prompts_path.is_file():
        available = pl.read_parquet_schema(prompts_path)
        prompt_columns = [c for c in PROMPT_COLUMNS if c in available]
    for chunk in chunks:
        stories = pl.scan_parquet(chunk, schema=schema, missing_columns="insert",
                                  extra_columns="ignore").select(story_columns).collect()
        if not prompt_columns:
            yield stories
            continue
        prompts = pl.scan_parquet(prompts_path).select(prompt_columns).filter(
            pl.col("prompt_id").is_in(stories["prompt_id"].implode())).collect()
        yield stories.join(prompts, on="prompt_id", how="left", maintain_order="left")


def _facts(lake: Lake, language: str, rows: dict[str, int], sources: Counter,
           hashes: Counter) -> DatasetFacts:
    wordlists = lake.wordlists_file(language)
    counts = json.loads(wordlists.read_text(encoding="utf-8"))["counts"] \
        if wordlists.is_file() else {}
    rejected = read_table(lake.stories_dir(language), "rejection", ["reason"])["reason"]
    return DatasetFacts(language, rows, dict(sources), dict(hashes), counts,
                        load_limits(lake.story_limits_file(language)).__dict__,
                        dict(Counter(rejected.to_list())), sum(rows.values()) + rejected.len())


def _write_splits(count: int, chunks: Iterator[pl.DataFrame], data: Path, val_share: float
                  ) -> tuple[dict[str, int], Counter, Counter]:
    """Write each chunk's rows into one parquet file per split; rows, sources and template
    hashes counted on the way."""
    rows = dict.fromkeys(SPLITS, 0)
    sources: Counter = Counter()
    hashes: Counter = Counter()
    label = pl.when(pl.col("model").is_not_null() & (pl.col("model") != "")).then(
        pl.format("{} ({})", "provider", "model")).otherwise(pl.col("provider"))
    for index, frame in enumerate(chunks):
        sources.update(dict(frame.select(label.alias("source"))["source"]
                            .value_counts().iter_rows()))
        if "template_hash" in frame.columns:
            hashes.update(dict(frame.filter(pl.col("template_hash").is_not_null()
                                            & (pl.col("template_hash") != ""))
                               ["template_hash"].value_counts().iter_rows()))
        in_val = pl.Series(val_mask(frame["prompt_id"].to_list(), val_share))
        for split, keep in (("train", ~in_val), ("validation", in_val)):
            part = frame.filter(keep)
            part.write_parquet(data / split_file(split, index, count))
            rows[split] += part.height
    return rows, sources, hashes


def export_dataset(lake: Lake, language: str, out: Path,
                   render_card: Callable[[DatasetFacts], str],
                   val_share: float = DEFAULT_VAL_SHARE) -> DatasetFacts:
    """Write the dataset folder to `out` (replaced whole, atomically); returns its facts.

    The stories are read in chunks of `JOIN_CHUNK_ROWS` (consecutive shards), each joined
    with its own prompts and written as one file of each split, so memory does not grow with
    the corpus. `render_card` turns the facts into the README.md (see `reports/cards.py`).
    """
    shards = shard_files(lake.stories_dir(language))
    if not shards:
        raise ValueError(f"no stories for {language}: materialize `stories` first")
    check_parquet_files(shards, damaged_shard_fix(lake.stories_dir(language)))
    tmp = temp_path_for(out)
    try:
        (tmp / "data").mkdir(parents=True)
        chunks = _shard_chunks(shards, JOIN_CHUNK_ROWS)
        rows, sources, hashes = _write_splits(
            len(chunks), _joined_chunks(chunks, lake.prompts_file(language)), tmp / "data",
            val_share)
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
