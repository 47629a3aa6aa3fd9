"""Which stories `token_bins` leaves out: `dedup` `none`, `exact` (every story whose text an
earlier story already has) or `near` (every member of a near-duplicate cluster but its first
one within the chosen corpus)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from tsr_assets.stories.corpus import Corpus

#: What `token_bins` leaves out (its `dedup` setting).
Dedup = Literal["none", "exact", "near"]


def exact_duplicate_ids(corpus: Corpus) -> set[str]:
    """prompt_ids of stories whose exact text occurs earlier in the corpus (shard order).

    The corpus is read in batches and each text kept as a 64-bit hash (8 bytes a story);
    stories that share a hash with an earlier one are then compared in full, so a hash
    collision never drops a story."""
    if not corpus.shards:
        return set()
    hashes = np.concatenate([pl.Series(batch.column(0)).hash(seed=0).to_numpy()
                             for _, batch in corpus.iter_batches(("story",))])
    _, first = np.unique(hashes, return_index=True)
    repeated = np.setdiff1d(np.arange(hashes.size), first)
    if not repeated.size:
        return set()
    suspects = np.flatnonzero(np.isin(hashes, hashes[repeated]))
    texts = _texts_at(corpus, suspects)
    ids = corpus.column("prompt_id").take(pa.array(suspects)).to_pylist()
    seen: set[str] = set()
    dropped = set()
    for index, prompt_id in zip(suspects.tolist(), ids, strict=True):
        if texts[index] in seen:
            dropped.add(prompt_id)
        seen.add(texts[index])
    return dropped


def _texts_at(corpus: Corpus, positions: np.ndarray) -> dict[int, str]:
    """The stories at these (sorted) corpus positions."""
    found: dict[int, str] = {}
    start = 0
    for _, batch in corpus.iter_batches(("story",)):
        end = start + batch.num_rows
        lo, hi = np.searchsorted(positions, [start, end])
        if hi > lo:
            local = pa.array(positions[lo:hi] - start)
            found.update(zip(positions[lo:hi].tolist(),
                             batch.column(0).take(local).to_pylist(), strict=True))
        start = end
    return found


def near_duplicate_ids(clusters: pl.DataFrame, sources: Iterable[str]) -> set[str]:
    """prompt_ids of every cluster member but the first one present in `sources`.

    `clusters` holds the `near_duplicates` rows of one language (source, cluster, prompt_id,
    position: the story's place in the scan, oldest first).
    """
    present = clusters.filter(pl.col("source").is_in(list(sources)))
    extra = present.sort("position").filter(pl.int_range(pl.len()).over("cluster") > 0)
    return set(extra["prompt_id"].to_list())
