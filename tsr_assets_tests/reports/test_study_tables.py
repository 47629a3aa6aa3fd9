"""The report's MorphScore and Rényi table: both MorphScores and the gold list's counts."""

from __future__ import annotations

import math

import polars as pl

from tsr_assets.reports.study_tables import tokenizer_study_section


def _row(tokenizer: str, **morph) -> dict:
    return {"language": "hindi", "tokenizer": tokenizer, "tokenizer_name": f"{tokenizer}-name",
            "renyi_nats_2_5": 6.5, "renyi_nats_1": 7.0, "renyi_efficiency": 0.6,
            "fertility": 1.8, "vocab_size": 2000, **morph}


def test_the_table_shows_both_morphscores_and_the_counts() -> None:
    stats = pl.DataFrame([
        _row("spm", morphscore=0.72681, morph_words_scored=940, morph_words_single_token=61,
             morph_words_unmatchable=42, morphscore_decoded=0.84994,
             morph_words_scored_decoded=833),
        _row("byte", morphscore=0.0, morph_words_scored=1001, morph_words_single_token=0,
             morph_words_unmatchable=42, morphscore_decoded=1.0,
             morph_words_scored_decoded=959),
    ])
    text = tokenizer_study_section(stats)
    header = next(line for line in text.splitlines() if line.startswith("| tokenizer"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    assert columns[2:8] == ["MorphScore", "words scored", "single-token words",
                            "unmatchable rows", "MorphScore decoded", "words scored (decoded)"]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith(("| spm", "| byte"))}
    assert rows["spm"][2:8] == ["0.7268", "940", "61", "42", "0.8499", "833"]
    assert rows["byte"][2:8] == ["0.0000", "1,001", "0", "42", "1.0000", "959"]
    assert "unmatchable" in text and "<0xE0>" in text


def test_rows_written_before_the_decoded_columns_existed_show_blanks() -> None:
    # A warehouse from before: the new columns are NULL for old rows.
    stats = pl.DataFrame([_row("spm", morphscore=0.5, morph_words_scored=10,
                               morph_words_single_token=2, morph_words_unmatchable=None,
                               morphscore_decoded=math.nan,
                               morph_words_scored_decoded=None)])
    line = next(line for line in tokenizer_study_section(stats).splitlines()
                if line.startswith("| spm"))
    assert [c.strip() for c in line.strip("|").split("|")][2:8] == [
        "0.5000", "10", "2", "", "", ""]
