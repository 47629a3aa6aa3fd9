"""The story store read in batches and scored on several cores gives what the whole table
gives: the checks' figures on stories written in several shards."""

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.stories import story_scan
from tsr_assets.stories.lexicon import lexicon_for
from tsr_assets.stories.parsing import script_share, script_shares
from tsr_assets.stories.quality_gates import gate_score_rows, gate_scores
from tsr_assets.stories.story_scan import (
    duplicate_counts,
    open_failures,
    prompt_word_shares,
    score_stories,
    story_lengths,
)
from tsr_assets_tests.tokenizers.corpus import stories


def _write(folder: Path, frame: pl.DataFrame, rows: int, row_group: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, frame.height, rows)):
        path = folder / f"part-{n:03d}.parquet"
        frame.slice(start, rows).write_parquet(path, row_group_size=row_group)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def table() -> pl.DataFrame:
    """Hindi stories with planted problems: a repeated prompt_id, two repeated texts (one of
    them across shards), an English story."""
    texts = list(stories("hindi", 150))
    texts += [texts[3], texts[100], "Once upon a time a cat sat on a mat and slept all day."]
    ids = [f"p{i:04d}" for i in range(len(texts))]
    ids[-1] = ids[0]
    return pl.DataFrame({"prompt_id": ids, "story": texts})


def test_duplicates_and_lengths_match_the_whole_table(table: pl.DataFrame,
                                                      tmp_path: Path) -> None:
    paths = _write(tmp_path / "shards", table, rows=40, row_group=15)
    assert duplicate_counts(paths) == (table.height,
                                       table.height - table["prompt_id"].n_unique(),
                                       table.height - table["story"].n_unique()) == (153, 1, 2)
    assert story_lengths(paths).tolist() == table["story"].str.len_chars().to_list()


def test_scores_on_two_worker_processes_equal_one_story_at_a_time(
        table: pl.DataFrame, tmp_path: Path, monkeypatch) -> None:
    paths = _write(tmp_path / "shards", table, rows=60, row_group=25)
    hindi = get_language("hindi")
    expected = [script_share(t, hindi) for t in table["story"]]
    monkeypatch.setattr(story_scan, "MIN_PARALLEL_STORIES", 10)
    parallel = score_stories(paths, script_shares, ("hindi",), workers=2)
    assert parallel.tolist() == expected and parallel[-1] < 0.5 < parallel[0]
    lexicon = lexicon_for("hindi")
    gates = score_stories(paths, gate_score_rows, ("hindi", None), workers=2)
    one_by_one = [gate_scores(t, hindi, lexicon) for t in table["story"]]
    assert gates.tolist() == [[g.repeated_sentence_share, g.repeated_ngram_share,
                               g.known_word_share] for g in one_by_one]
    assert np.array_equal(score_stories(paths, script_shares, ("hindi",), workers=1), parallel)


def test_prompt_words_and_open_failures_match_a_join(table: pl.DataFrame,
                                                     tmp_path: Path) -> None:
    paths = _write(tmp_path / "shards", table.head(150), rows=40, row_group=40)
    words = [t.split()[2] for t in table["story"][:150]]
    prompts = pl.DataFrame({"prompt_id": table["prompt_id"][:150],
                            "noun": words, "verb": ["नहीं"] * 150,
                            "adjective": ["zzz"] * 150}).slice(10)
    prompts_path = tmp_path / "prompts.parquet"
    prompts.write_parquet(prompts_path)
    joined, shares = prompt_word_shares(paths, prompts_path)
    whole = table.head(150).join(prompts, on="prompt_id")
    assert joined == whole.height == 140
    for column in ("noun", "verb", "adjective"):
        assert shares[column] == pytest.approx(whole.select(
            pl.col("story").str.contains(pl.col(column), literal=True)).to_series().mean())
    assert shares["noun"] == 1.0 and shares["adjective"] == 0.0
    failures = _write(tmp_path / "failures", pl.DataFrame(
        {"prompt_id": ["p0001", "p0002", "x1", "x2", "x2"]}), rows=2, row_group=2)
    assert open_failures(paths, failures) == (2, 152)
    assert open_failures(paths, []) == (0, 150)
