"""Which stories `token_bins` leaves out: `dedup` `none`, `exact` (every story whose text an
earlier story already has) or `near` (every member of a near-duplicate cluster but its first
one within the chosen corpus)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import polars as pl

from tsr_assets.stories.corpus import Corpus

#: What `token_bins` leaves out (its `dedup` setting).
Dedup = Literal["none", "exact", "near"]


def exact_duplicate_ids(corpus: Corpus) -> set[str]:
    """prompt_ids of stories whose exact text occurs earlier in the corpus (shard order)."""
    if not corpus.shards:
        return set()
    table = pl.read_parquet(corpus.shards, columns=["prompt_id", "story"])
    return set(table.filter(~pl.col("story").is_first_distinct())["prompt_id"].to_list())


def near_duplicate_ids(clusters: pl.DataFrame, sources: Iterable[str]) -> set[str]:
    """prompt_ids of every cluster member but the first one present in `sources`.

    `clusters` holds the `near_duplicates` rows of one language (source, cluster, prompt_id,
    position: the story's place in the scan, oldest first).
    """
    present = clusters.filter(pl.col("source").is_in(list(sources)))
    extra = present.sort("position").filter(pl.int_range(pl.len()).over("cluster") > 0)
    return set(extra["prompt_id"].to_list())
