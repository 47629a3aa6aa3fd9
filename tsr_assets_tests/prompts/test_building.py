"""Building the prompt table in chunks: uniqueness, determinism, errors, atomic writing."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tsr_assets.core.languages import get_language
from tsr_assets.prompts.building import (
    PROMPT_COLUMNS,
    PromptCountError,
    prompt_frames,
    write_prompts_parquet,
)
from tsr_assets.prompts.sampling import prompt_id
from tsr_assets.prompts.templates import get_template, render_prompt
from tsr_assets.prompts.wordlists import Wordlists

HINDI = get_language("hindi")
LISTS = Wordlists(
    nouns=("घर", "पानी", "फूल", "पेड़", "चिड़िया"),
    verbs=("खेलना", "दौड़ना", "गाना"),
    adjectives=("लाल", "सुंदर", "छोटा", "चतुर"),
    features=("खुशहाल अंत", "नैतिक सीख"),
    features_en=("a happy ending", "a moral lesson"),
    source_dir="test",
)
TOTAL = 5 * 3 * 4 * 2


def _table(count: int, seed: int = 0, chunk_rows: int = 7, **kw: object) -> pl.DataFrame:
    frames = prompt_frames(
        LISTS, HINDI, get_template("structured"), count, seed, chunk_rows=chunk_rows, **kw
    )
    return pl.concat(list(frames))


def test_whole_product_is_covered_once() -> None:
    table = _table(TOTAL)
    assert table.columns == list(PROMPT_COLUMNS)
    assert table.height == TOTAL
    assert table["prompt_id"].n_unique() == TOTAL
    assert table.select("noun", "verb", "adjective", "feature").unique().height == TOTAL


def test_rows_are_consistent_with_their_words() -> None:
    template = get_template("structured")
    for row in _table(20).iter_rows(named=True):
        words = (row["noun"], row["verb"], row["adjective"], row["feature"])
        assert row["prompt_id"] == prompt_id(*words)
        assert row["prompt"] == render_prompt(
            template, HINDI, row["noun"], row["verb"], row["adjective"], row["feature"]
        )
        assert LISTS.features_en[LISTS.features.index(row["feature"])] == row["feature_en"]


def test_deterministic_prefix_stable_and_chunk_independent() -> None:
    assert _table(30, seed=4).equals(_table(30, seed=4, chunk_rows=1000))
    assert _table(10, seed=4).equals(_table(30, seed=4).head(10))
    assert not _table(30, seed=4).equals(_table(30, seed=5))


def test_english_feature_wording() -> None:
    table = _table(5, feature_language="english")
    for row in table.iter_rows(named=True):
        assert f'"{row["feature_en"]}"' in row["prompt"]


def test_over_the_maximum_names_it() -> None:
    with pytest.raises(PromptCountError, match=r"at most 120 unique combinations"):
        _table(TOTAL + 1)
    with pytest.raises(PromptCountError, match="at least 1"):
        _table(0)


def test_parquet_is_written_atomically(tmp_path: Path) -> None:
    out = tmp_path / "prompts.parquet"
    rows = write_prompts_parquet(
        prompt_frames(LISTS, HINDI, get_template("basic"), 50, 1, chunk_rows=16), out
    )
    assert rows == 50 and pl.read_parquet(out).height == 50
    assert [p.name for p in tmp_path.iterdir()] == ["prompts.parquet"]

    def failing():
        yield from prompt_frames(LISTS, HINDI, get_template("basic"), 20, 2, chunk_rows=8)
        raise RuntimeError("killed mid-way")

    with pytest.raises(RuntimeError):
        write_prompts_parquet(failing(), out)
    # The earlier file is untouched and no temporary file is left behind.
    assert pl.read_parquet(out).height == 50
    assert [p.name for p in tmp_path.iterdir()] == ["prompts.parquet"]


def test_unaligned_features_work_natively_but_not_in_english() -> None:
    unaligned = Wordlists(**{**LISTS.__dict__, "features_en": ("a happy ending",)})
    frames = prompt_frames(unaligned, HINDI, get_template("structured"), 10, 0)
    table = pl.concat(list(frames))
    assert table.height == 10 and table["feature_en"].null_count() == 10
    with pytest.raises(ValueError, match="2 features and 1 English ones.*line for line"):
        list(prompt_frames(unaligned, HINDI, get_template("structured"), 10, 0,
                           feature_language="english"))


def test_the_template_hash_and_word_target_travel_with_the_prompts() -> None:
    table = _table(5)
    template = get_template("structured")
    assert set(table["template_hash"]) == {template.text_hash}
    assert set(table["max_words"]) == {template.max_words}


def test_an_original_style_template_builds_the_same_prompts_as_rendering() -> None:
    """`{feature1}` takes the feature column (English when asked for), the JSON example stays."""
    from tsr_assets.prompts.templates import ORIGINAL_STYLE_TEMPLATE_FILE, load_template_file

    template = load_template_file(ORIGINAL_STYLE_TEMPLATE_FILE)
    table = pl.concat(list(prompt_frames(LISTS, HINDI, template, 12, 0, "english",
                                         chunk_rows=5)))
    for row in table.iter_rows(named=True):
        assert row["prompt"] == render_prompt(template, HINDI, row["noun"], row["verb"],
                                              row["adjective"], row["feature_en"])
        assert f'"{row["feature_en"]}"' in row["prompt"]
        assert row["prompt"].endswith('{\n    "story": "the_whole_story_here"\n}')
