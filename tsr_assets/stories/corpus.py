"""The training corpus of a language: which story stores it is made of (`generated`,
`translated` or `both`, see `core/lake.py` `CORPORA`) and how many stories each holds.

A corpus is read in Arrow batches, shard by shard (`iter_batches`, `story_texts`), never as one
table: at the study's size (2,000,000 stories a source) the stories alone are several GB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tsr_assets.core.data_files import check_parquet_files
from tsr_assets.core.lake import Lake
from tsr_assets.stories.store import damaged_shard_fix, read_table, shard_files

#: Stories per Arrow batch when a corpus is scanned.
SCAN_BATCH_ROWS = 8192


@dataclass(frozen=True)
class Corpus:
    """The shards of each source of one language's corpus."""

    name: str
    shards_by_source: dict[str, list[Path]]
    folders: dict[str, Path] = field(default_factory=dict)

    @property
    def shards(self) -> list[Path]:
        """Every shard, source by source (generated first), oldest first within a source."""
        return [path for paths in self.shards_by_source.values() for path in paths]

    def stories_by_source(self) -> dict[str, int]:
        """Stories per source, from the shards' parquet footers."""
        return {source: sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
                for source, paths in self.shards_by_source.items()}

    def provenance(self) -> dict:
        """Stories per source, and for translations the languages they were translated from
        (`translated_from`; translations older than the record count as English)."""
        counts: dict = dict(self.stories_by_source())
        if self.shards_by_source.get("translated"):
            languages = read_table(self.folders["translated"], "story", ["source_language"])
            counts["translated_from"] = dict(sorted(
                languages["source_language"].fill_null("english").value_counts().iter_rows()))
        return counts

    def iter_batches(self, columns: Sequence[str] = ("prompt_id", "story"),
                     batch_rows: int = SCAN_BATCH_ROWS) -> Iterator[tuple[str, pa.RecordBatch]]:
        """(source, record batch of `columns`) for every batch of every shard, in corpus order."""
        for source, paths in self.shards_by_source.items():
            for path in paths:
                for batch in pq.ParquetFile(path).iter_batches(batch_rows, columns=list(columns)):
                    yield source, batch

    def story_texts(self, batch_rows: int = SCAN_BATCH_ROWS,
                    sources: Sequence[str] | None = None) -> Iterator[list[str]]:
        """The stories as lists of Python strings, one list per batch, in corpus order (only
        the given `sources` when named)."""
        for source, batch in self.iter_batches(("story",), batch_rows):
            if sources is None or source in sources:
                yield batch.column(0).to_pylist()

    def story_arrays(self, batch_rows: int = SCAN_BATCH_ROWS) -> Iterator[pa.Array]:
        """The stories as Arrow string arrays, one per batch, in corpus order (for scans that
        convert only some of them to Python strings)."""
        for _, batch in self.iter_batches(("story",), batch_rows):
            yield batch.column(0)

    def column(self, name: str) -> pa.ChunkedArray:
        """One (small) column of every story, in corpus order, e.g. the prompt_ids."""
        chunks = [batch.column(0) for _, batch in self.iter_batches((name,), 1 << 20)]
        return pa.chunked_array(chunks, type=chunks[0].type) if chunks else pa.chunked_array(
            [], type=pa.string())

    def source_starts(self) -> dict[str, int]:
        """The corpus index of each source's first story (sources in corpus order)."""
        counts = self.stories_by_source()
        starts = np.cumsum([0, *counts.values()])[:-1]
        return {source: int(start) for source, start in zip(counts, starts, strict=True)}

    def missing_sources(self) -> list[str]:
        """Sources of this corpus that hold no story yet."""
        return [source for source, paths in self.shards_by_source.items() if not paths]


def corpus_of(lake: Lake, language: str, corpus: str) -> Corpus:
    """The named corpus of `language` (a clear error for an unknown name, and one naming every
    damaged shard)."""
    folders = lake.corpus_dirs(language, corpus)
    shards = {source: shard_files(folder) for source, folder in folders.items()}
    for source, folder in folders.items():
        check_parquet_files(shards[source], damaged_shard_fix(folder))
    return Corpus(corpus, shards, dict(folders))


#: The asset that fills each source's store.
SOURCE_ASSETS = {"generated": "stories", "translated": "translated_stories"}
