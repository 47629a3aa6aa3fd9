"""The training corpus of a language: which story stores it is made of (`generated`,
`translated` or `both`, see `core/lake.py` `CORPORA`) and how many stories each holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from tsr_assets.core.data_files import check_parquet_files
from tsr_assets.core.lake import Lake
from tsr_assets.stories.store import damaged_shard_fix, read_table, shard_files


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
