"""Exact duplicates found while the corpus streams: the stories the whole-table rule drops."""

from pathlib import Path

import polars as pl

from tsr_assets.data_quality.deduplication import exact_duplicate_ids
from tsr_assets.stories.corpus import Corpus


def test_exact_duplicates_across_shards_and_sources_match_the_whole_table(
        tmp_path: Path) -> None:
    texts = [f"कहानी {i % 37} और {i % 11}।" for i in range(600)]
    table = pl.DataFrame({"prompt_id": [f"p{i:04d}" for i in range(600)], "story": texts})
    paths = {}
    for source, (a, b) in (("generated", (0, 420)), ("translated", (420, 600))):
        folder = tmp_path / source
        folder.mkdir()
        paths[source] = []
        for k, start in enumerate(range(a, b, 100)):
            path = folder / f"part-{k}.parquet"
            table.slice(start, min(100, b - start)).write_parquet(path, row_group_size=30)
            paths[source].append(path)
    expected = set(table.filter(~pl.col("story").is_first_distinct())["prompt_id"])
    found = exact_duplicate_ids(Corpus("both", paths))
    assert found == expected
    assert len(found) == 600 - table["story"].n_unique() and "p0000" not in found
    assert exact_duplicate_ids(Corpus("generated", {"generated": paths["generated"][:1]})) == {
        p for p in expected if int(p[1:]) < 100}
