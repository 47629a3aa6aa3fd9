"""`compare_models`: paired, opener-clustered comparisons against hand-computed numbers and
planted examples, and the `model_comparison` column declarations."""

from __future__ import annotations

import math
from collections.abc import Sequence

import duckdb
import numpy as np
import polars as pl
import pytest

from tsr_assets.core.warehouse import TABLES, table_columns
from tsr_assets.evaluation.model_comparison import (
    MODEL_COMPARISON_SCHEMA,
    compare_models,
)

BPE = ("bpe", "tiny", "generated")  # tokenizer, preset, corpus
UNIGRAM = ("unigram", "tiny", "generated")
CHAR = ("char", "tiny", "generated")


def _rows(model: Sequence[str], values_by_opener: dict[str, Sequence[float | None]],
          metric: str = "overall", language: str = "hindi",
          judge: str = "llm:judge-a") -> list[dict]:
    """`judge_scores` rows of one model: sample i of opener o scored values_by_opener[o][i]."""
    tokenizer, preset, corpus = model
    return [
        {"language": language, "tokenizer": tokenizer, "preset": preset, "corpus": corpus,
         "parameters": 1000, "judge": judge, "rubric_hash": "r1", "metric": metric,
         "value": value, "prompt_id": opener, "sample_index": index, "run_id": "run",
         "created_at": None}
        for opener, values in values_by_opener.items()
        for index, value in enumerate(values)
    ]


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"value": pl.Float64, "created_at": pl.Datetime})


def _frame_of(values: dict[tuple[str, str, str], np.ndarray], openers: int,
              samples: int) -> pl.DataFrame:
    """Scores of several models: values[model] holds openers x samples values, opener-major."""
    prompt_ids = np.repeat([f"opener-{i:04d}" for i in range(openers)], samples)
    return pl.concat([
        pl.DataFrame({"language": "hindi", "tokenizer": model[0], "preset": model[1],
                      "corpus": model[2], "judge": "llm:judge-a", "metric": "overall",
                      "prompt_id": prompt_ids,
                      "sample_index": np.tile(np.arange(samples), openers),
                      "value": np.asarray(v, dtype=np.float64)})
        for model, v in values.items()
    ])


# A: opener o1 [4, 6] (mean 5), o2 [6, 8] (mean 7), o3 [8, 10] (mean 9).
# B: opener o1 [3, 5] (mean 4), o2 [6, 6] (mean 6), o3 [5, 7] (mean 6).
HAND_A = {"o1": [4, 6], "o2": [6, 8], "o3": [8, 10]}
HAND_B = {"o1": [3, 5], "o2": [6, 6], "o3": [5, 7]}


def test_hand_computed_case() -> None:
    out = compare_models(_frame(_rows(BPE, HAND_A) + _rows(UNIGRAM, HAND_B)))
    assert out.height == 1
    row = out.row(0, named=True)
    assert (row["model_a"], row["model_b"]) == ("bpe/tiny/generated", "unigram/tiny/generated")
    assert (row["tokenizer_a"], row["tokenizer_b"]) == ("bpe", "unigram")
    assert (row["openers"], row["n_a"], row["n_b"]) == (3, 6, 6)
    # mean_a = (4 + 6 + 6 + 8 + 8 + 10) / 6 = 42 / 6 = 7; mean_b = (3 + 5 + 6 + 6 + 5 + 7) / 6
    # = 32 / 6 = 16 / 3.
    assert row["mean_a"] == pytest.approx(7.0)
    assert row["mean_b"] == pytest.approx(16 / 3)
    # Per-opener differences: 5 - 4 = 1, 7 - 6 = 1, 9 - 6 = 3; their mean 5 / 3 (= 7 - 16 / 3,
    # as every opener has 2 samples of each).
    assert row["mean_difference"] == pytest.approx(5 / 3)
    # var_a: deviations from 7 are -3, -1, -1, 1, 1, 3; squares sum to 9+1+1+1+1+9 = 22;
    # var_a = 22 / 5. var_b: deviations from 16/3 are -7/3, -1/3, 2/3, 2/3, -1/3, 5/3; squares
    # sum to (49 + 1 + 4 + 4 + 1 + 25) / 9 = 84 / 9 = 28 / 3; var_b = (28 / 3) / 5 = 28 / 15.
    # se^2 = (22/5) / 6 + (28/15) / 6 = (66/15 + 28/15) / 6 = 94 / 90 = 47 / 45.
    se = math.sqrt(47 / 45)  # 1.02198...
    z = (5 / 3) / se  # 1.6308...
    assert row["z_unpaired"] == pytest.approx(z)
    # Two-sided normal p: 2 * (1 - Phi(z)) = erfc(z / sqrt(2)), about 0.1029.
    assert row["p_unpaired"] == pytest.approx(math.erfc(z / math.sqrt(2)))
    assert row["p_unpaired"] == pytest.approx(0.1029, abs=1e-3)
    assert row["ci95_unpaired_low"] == pytest.approx(5 / 3 - 1.96 * se)
    assert row["ci95_unpaired_high"] == pytest.approx(5 / 3 + 1.96 * se)
    # The bootstrap resamples the 3 per-opener differences (1, 1, 3): every resampled mean is
    # within [1, 3], and the interval contains the observed 5 / 3.
    assert 1.0 <= row["ci95_low"] <= 5 / 3 <= row["ci95_high"] <= 3.0
    assert 1 / 2001 <= row["p_value"] <= 1.0
    assert row["significant"] == (row["p_value"] < 0.05)
    assert (row["resamples"], row["seed"]) == (2000, 0)


def test_unequal_samples_per_opener_weigh_openers_equally() -> None:
    # A: o1 [2, 2, 2, 2] (mean 2), o2 [6] (mean 6); B: o1 [1] (mean 1), o2 [5] (mean 5).
    # Per-opener differences 1 and 1: mean_difference 1, while mean_a - mean_b =
    # (8 + 6) / 5 - (1 + 5) / 2 = 2.8 - 3 = -0.2.
    out = compare_models(_frame(_rows(BPE, {"o1": [2, 2, 2, 2], "o2": [6]})
                                + _rows(UNIGRAM, {"o1": [1], "o2": [5]})))
    row = out.row(0, named=True)
    assert row["mean_difference"] == pytest.approx(1.0)
    assert row["mean_a"] - row["mean_b"] == pytest.approx(-0.2)
    assert (row["n_a"], row["n_b"]) == (5, 2)
    assert row["ci95_low"] == pytest.approx(1.0) and row["ci95_high"] == pytest.approx(1.0)


def test_identical_models_do_not_differ() -> None:
    rng = np.random.default_rng(3)
    values = rng.integers(1, 11, size=50 * 3).astype(float)
    out = compare_models(_frame_of({BPE: values, UNIGRAM: values.copy()}, 50, 3))
    row = out.row(0, named=True)
    assert row["mean_difference"] == 0.0
    assert row["p_value"] == 1.0
    assert row["significant"] is False
    assert row["ci95_low"] == 0.0 and row["ci95_high"] == 0.0
    assert row["z_unpaired"] == 0.0 and row["p_unpaired"] == 1.0


def test_pairing_removes_opener_effects() -> None:
    # 200 openers whose quality varies a lot (sd 4; the task's sd 2 is not enough for the
    # unpaired test to miss a 0.3 difference: its p is below 0.05 for every data seed tried),
    # 3 samples each (sd 1 around the opener's quality); B = A - 0.3 + noise (sd 0.3) sample by
    # sample. Over 200 data seeds the paired p was always at its floor 1/2001, the unpaired p
    # at least 0.13, and the width ratio at most 0.064.
    rng = np.random.default_rng(0)
    openers, samples = 200, 3
    quality = rng.normal(0.0, 4.0, openers)
    a = 5.0 + np.repeat(quality, samples) + rng.normal(0.0, 1.0, openers * samples)
    b = a - 0.3 + rng.normal(0.0, 0.3, openers * samples)
    row = compare_models(_frame_of({BPE: a, UNIGRAM: b}, openers, samples)).row(0, named=True)
    assert row["mean_difference"] == pytest.approx(0.3, abs=0.05)
    paired_width = row["ci95_high"] - row["ci95_low"]
    unpaired_width = row["ci95_unpaired_high"] - row["ci95_unpaired_low"]
    assert paired_width / unpaired_width < 0.5
    assert row["p_value"] < 0.01 and row["significant"] is True
    assert row["p_unpaired"] > 0.05
    assert row["ci95_low"] > 0


def test_copies_of_a_sample_are_not_independent_evidence() -> None:
    rng = np.random.default_rng(7)
    openers = 60
    a, b = rng.normal(5.0, 1.0, openers), rng.normal(4.8, 1.0, openers)
    once = compare_models(_frame_of({BPE: a, UNIGRAM: b}, openers, 1)).row(0, named=True)
    thrice = compare_models(_frame_of({BPE: np.repeat(a, 3), UNIGRAM: np.repeat(b, 3)},
                                      openers, 3)).row(0, named=True)
    assert (once["n_a"], thrice["n_a"]) == (openers, 3 * openers)
    assert thrice["mean_difference"] == pytest.approx(once["mean_difference"])
    assert thrice["ci95_low"] == pytest.approx(once["ci95_low"])
    assert thrice["ci95_high"] == pytest.approx(once["ci95_high"])
    assert thrice["p_value"] == once["p_value"]
    # The unpaired standard error counts the copies as data: with n openers, SS the sum of
    # squares of one copy, se^2 is SS / (n (n - 1)) once and 3 SS / ((3n - 1) 3n) thrice, a
    # ratio of sqrt((3n - 1) / (n - 1)), about sqrt(3).
    width_once = once["ci95_unpaired_high"] - once["ci95_unpaired_low"]
    width_thrice = thrice["ci95_unpaired_high"] - thrice["ci95_unpaired_low"]
    assert width_once / width_thrice == pytest.approx(math.sqrt((3 * openers - 1)
                                                                / (openers - 1)))
    assert width_once / width_thrice == pytest.approx(math.sqrt(3), rel=0.02)


def test_same_seed_same_output_and_seed_matters() -> None:
    rng = np.random.default_rng(11)
    scores = _frame_of({BPE: rng.normal(5, 1, 90), UNIGRAM: rng.normal(5, 1, 90),
                        CHAR: rng.normal(5.2, 1, 90)}, 30, 3)
    first = compare_models(scores, resamples=2000, seed=5)
    assert first.equals(compare_models(scores, resamples=2000, seed=5))
    # The row order of the input does not matter either.
    assert first.equals(compare_models(scores.reverse(), resamples=2000, seed=5))
    other = compare_models(scores, resamples=2000, seed=6)
    assert not first["ci95_low"].equals(other["ci95_low"])
    assert first.select("mean_difference").equals(other.select("mean_difference"))
    assert set(first["seed"]) == {5}


def test_pairs_in_sorted_order_only_for_models_sharing_openers() -> None:
    lone = ("zeta", "tiny", "generated")  # shares no opener with anyone
    single = ("alpha", "tiny", "generated")  # shares only o1 with everyone
    rows = (_rows(BPE, HAND_A) + _rows(UNIGRAM, HAND_B) + _rows(CHAR, HAND_B)
            + _rows(lone, {"x1": [5], "x2": [6]}) + _rows(single, {"o1": [5], "y": [5]}))
    out = compare_models(_frame(rows))
    # Models sorted by (tokenizer, preset, corpus): bpe < char < unigram.
    assert out.select("model_a", "model_b").rows() == [
        ("bpe/tiny/generated", "char/tiny/generated"),
        ("bpe/tiny/generated", "unigram/tiny/generated"),
        ("char/tiny/generated", "unigram/tiny/generated"),
    ]
    assert out.row(1, named=True)["mean_difference"] == pytest.approx(5 / 3)


def test_openers_missing_a_metric_or_a_value_are_not_common() -> None:
    # B has no `grammar` score at o3, and a NaN and a None at o2 of `overall` (so o2 is gone
    # for `overall`); every other value is as in the hand-computed case.
    rows = (_rows(BPE, HAND_A) + _rows(BPE, HAND_A, metric="grammar")
            + _rows(UNIGRAM, {"o1": [3, 5], "o2": [math.nan, None], "o3": [5, 7]})
            + _rows(UNIGRAM, {"o1": [3, 5], "o2": [6, 6]}, metric="grammar"))
    out = compare_models(_frame(rows))
    by_metric = {row["metric"]: row for row in out.iter_rows(named=True)}
    assert set(by_metric) == {"grammar", "overall"}
    # grammar: o1, o2 in common, differences 1 and 1.
    assert by_metric["grammar"]["openers"] == 2
    assert (by_metric["grammar"]["n_a"], by_metric["grammar"]["n_b"]) == (4, 4)
    assert by_metric["grammar"]["mean_difference"] == pytest.approx(1.0)
    # overall: o1, o3 in common, differences 1 and 3; A's samples there: 4, 6, 8, 10.
    assert by_metric["overall"]["openers"] == 2
    assert by_metric["overall"]["mean_difference"] == pytest.approx(2.0)
    assert by_metric["overall"]["mean_a"] == pytest.approx(7.0)
    assert by_metric["overall"]["n_b"] == 4


def test_no_pairs_across_languages_or_judges() -> None:
    rows = (_rows(BPE, HAND_A, language="hindi") + _rows(UNIGRAM, HAND_B, language="bengali")
            + _rows(BPE, HAND_A, judge="llm:judge-a", language="tamil")
            + _rows(UNIGRAM, HAND_B, judge="llm:judge-b", language="tamil"))
    assert compare_models(_frame(rows)).height == 0
    rows += _rows(UNIGRAM, HAND_B, language="hindi") + _rows(BPE, HAND_A, language="bengali")
    out = compare_models(_frame(rows))
    assert out.select("language", "judge").rows() == [("bengali", "llm:judge-a"),
                                                       ("hindi", "llm:judge-a")]
    assert out["mean_difference"].to_list() == pytest.approx([5 / 3, 5 / 3])


def test_empty_input_gives_the_schema() -> None:
    empty = pl.DataFrame(schema={"language": pl.String, "tokenizer": pl.String,
                                 "preset": pl.String, "corpus": pl.String, "judge": pl.String,
                                 "metric": pl.String, "prompt_id": pl.String,
                                 "value": pl.Float64})
    for scores in (empty, _frame(_rows(BPE, HAND_A)),
                   _frame(_rows(BPE, {"o1": [None]}) + _rows(UNIGRAM, {"o1": [None]}))):
        out = compare_models(scores)
        assert out.height == 0
        assert out.schema == pl.Schema(MODEL_COMPARISON_SCHEMA)


def test_duckdb_columns_match_the_frame() -> None:
    declared = list(table_columns("model_comparison"))
    assert declared == [*MODEL_COMPARISON_SCHEMA, "computed_at"]
    out = compare_models(_frame(_rows(BPE, HAND_A) + _rows(UNIGRAM, HAND_B)))
    con = duckdb.connect()
    con.execute(f"CREATE TABLE model_comparison ({TABLES['model_comparison']})")
    con.register("frame", out.to_arrow())
    con.execute("INSERT INTO model_comparison SELECT *, now() FROM frame")
    assert con.execute("SELECT count(*), any_value(openers) FROM model_comparison").fetchone() \
        == (1, 3)
