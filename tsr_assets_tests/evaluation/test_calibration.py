"""Judges against human raters: the statistics against hand-computed values, and planted
judges (noise, a copy of the humans) on a few hundred stories."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from tsr_assets.evaluation.calibration import (
    HUMANS,
    average_ranks,
    calibrate,
    interval_alpha,
    kendall_tau_b,
    same_order,
    spearman,
)


def test_interval_alpha_matches_a_hand_computed_case() -> None:
    # Coders A (1, 2, 3) and B (1, 2, 4): pairable values 1,1,2,2,3,4 (n = 6).
    # D_o = (1/n) * sum over units of sum over ordered pairs (c - k)^2 / (m_u - 1)
    #     = (1/6) * 2 * (3 - 4)^2 = 1/3.
    # D_e = sum over ordered pairs of all values (c - k)^2 / (n (n - 1))
    #     = 2 * (n * sum(v^2) - sum(v)^2) / 30 = 2 * (6 * 35 - 13^2) / 30 = 82 / 30.
    # alpha = 1 - D_o / D_e = 1 - 10 / 82 = 72 / 82.
    assert interval_alpha(np.array([[1, 2, 3], [1, 2, 4]])) == pytest.approx(72 / 82)
    # A unit only one coder rated is not pairable and changes nothing.
    assert interval_alpha(np.array([[1, 2, 3, np.nan], [1, 2, 4, 9]])) == pytest.approx(72 / 82)
    # Perfect agreement; and no disagreement possible at all (one value everywhere).
    assert interval_alpha(np.array([[1, 5, 9], [1, 5, 9]])) == pytest.approx(1.0)
    assert math.isnan(interval_alpha(np.array([[4, 4], [4, 4]])))


def test_ranks_spearman_and_kendall_by_hand() -> None:
    assert average_ranks(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert spearman(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(0.8)
    assert spearman(np.array([1, 2, 3]), np.array([3, 2, 1])) == pytest.approx(-1.0)
    assert math.isnan(spearman(np.array([1, 2, 3]), np.array([5, 5, 5])))
    # Pairs of (1,2,3) vs (1,3,2): 2 concordant, 1 discordant, no ties: (2 - 1) / 3.
    assert kendall_tau_b(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(1 / 3)
    # Ties: x = (1,1,2), y = (1,2,3): pairs (1,2) tied in x, (1,3), (2,3) concordant:
    # tau-b = 2 / sqrt(2 * 3).
    assert kendall_tau_b(np.array([1, 1, 2]), np.array([1, 2, 3])) == pytest.approx(
        2 / math.sqrt(6))
    assert same_order(np.array([1, 2, 3]), np.array([2, 5, 9])) is True
    assert same_order(np.array([1, 1, 3]), np.array([2, 5, 9])) is False


def _row(tokenizer: str, prompt: int, judge: str, value: float, metric: str = "overall"
         ) -> dict:
    return {"language": "hindi", "tokenizer": tokenizer, "preset": "tiny", "corpus": None,
            "judge": judge, "metric": metric, "value": value,
            "prompt_id": f"opener-{prompt:03d}", "sample_index": 0}


def test_a_small_case_by_hand() -> None:
    """Two models, two stories each, two raters; a judge 1 point above the raters' mean."""
    humans = {("spm", 0): (4, 6), ("spm", 1): (6, 6), ("byte", 0): (2, 2), ("byte", 1): (3, 5)}
    rows = []
    for (tokenizer, prompt), (a, b) in humans.items():
        rows += [_row(tokenizer, prompt, "human:a", a), _row(tokenizer, prompt, "human:b", b),
                 _row(tokenizer, prompt, "llm:judge", (a + b) / 2 + 1)]
    rows.append(_row("spm", 0, "llm:judge", 3.0, metric="grammar"))  # no human rated grammar
    out = calibrate(pl.DataFrame(rows), resamples=200, seed=3)
    assert out["judge"].to_list() == [HUMANS, "llm:judge"]
    judge = out.row(1, named=True)
    assert (judge["n"], judge["raters"], judge["models"]) == (4, 2, 2)
    assert judge["mean_difference"] == pytest.approx(1.0)
    assert judge["mean_difference_ci95_low"] == pytest.approx(1.0)  # every story differs by 1
    assert judge["spearman"] == pytest.approx(1.0)
    assert judge["kendall_tau"] == pytest.approx(1.0) and judge["same_model_order"] is True
    assert judge["judge_mean"] == pytest.approx(5.25) and judge["humans_mean"] == 4.25
    # Judge (6, 7, 3, 5) against the humans' mean (5, 6, 2, 4) as two coders: a constant
    # offset of 1. Values 6,7,3,5,5,6,2,4 (sum 38, squares 200): D_e = 2 * (8 * 200 - 38^2)
    # / 56 = 2 * 156 / 56; D_o = (1/8) * 4 units * 2 * 1^2 = 1; alpha = 1 - 56 / 312.
    assert judge["alpha_judge_humans"] == pytest.approx(1 - 56 / 312)
    # The raters: (4,6) (6,6) (2,2) (3,5): values sum 34, squares 166; D_o = (1/8) * 2 *
    # (4 + 4) = 2; D_e = 2 * (8 * 166 - 34^2) / 56 = 344 / 56; alpha = 1 - 112 / 344.
    assert judge["alpha_humans"] == pytest.approx(1 - 112 / 344)
    assert out.row(0, named=True)["alpha_humans"] == pytest.approx(1 - 112 / 344)
    # The same input and seed give the same output.
    assert calibrate(pl.DataFrame(rows), resamples=200, seed=3).equals(out)


def _planted(stories_per_model: int = 100) -> tuple[pl.DataFrame, dict]:
    """Three models of increasing quality, three raters each seeing a story's quality with
    noise; a judge that is noise, one that copies the raters' mean, the automatic judge's
    length that follows quality."""
    rng = np.random.default_rng(7)
    rows = []
    for shift, tokenizer in enumerate(("byte", "spm", "gpt2")):
        for prompt in range(stories_per_model):
            quality = rng.normal(4.5 + shift, 1.5)
            ratings = [float(np.clip(np.round(quality + rng.normal(0, 0.7)), 1, 10))
                       for _ in range(3)]
            rows += [_row(tokenizer, prompt, f"human:{r}", v)
                     for r, v in zip("abc", ratings, strict=True)]
            rows.append(_row(tokenizer, prompt, "llm:copy", float(np.round(np.mean(ratings)))))
            rows.append(_row(tokenizer, prompt, "llm:noise", float(rng.integers(1, 11))))
            rows.append(_row(tokenizer, prompt, "automatic", 40 * quality + rng.normal(0, 5),
                             metric="length_words"))
    frame = calibrate(pl.DataFrame(rows), resamples=500, seed=0)
    return frame, {r["judge"]: r for r in frame.iter_rows(named=True)}


def test_planted_judges_noise_scores_zero_a_copy_scores_one() -> None:
    frame, by_judge = _planted()
    noise, copy = by_judge["llm:noise"], by_judge["llm:copy"]
    assert noise["n"] == copy["n"] == 300
    assert abs(noise["alpha_judge_humans"]) < 0.15
    assert noise["spearman_ci95_low"] < 0 < noise["spearman_ci95_high"]
    assert copy["alpha_judge_humans"] > 0.95 and copy["spearman_ci95_low"] > 0.95
    assert copy["kendall_tau"] == 1.0 and copy["same_model_order"] is True
    assert abs(copy["mean_difference"]) < 0.1
    # The raters agree well among themselves; that is the ceiling both judges are read against.
    humans = by_judge[HUMANS]
    assert humans["raters"] == 3 and humans["n"] == 300 and 0.7 < humans["alpha_humans"] < 0.95
    assert copy["alpha_humans"] == pytest.approx(humans["alpha_humans"])
    # The automatic judge is set against `overall` with rank statistics only (other scale).
    automatic = by_judge["automatic"]
    assert (automatic["metric"], automatic["human_metric"]) == ("length_words", "overall")
    assert automatic["spearman"] > 0.8 and automatic["same_model_order"] is True
    assert automatic["alpha_judge_humans"] is None and automatic["mean_difference"] is None


def test_without_human_ratings_there_is_nothing_to_calibrate() -> None:
    rows = [_row("spm", p, "llm:judge", 5.0) for p in range(5)]
    assert calibrate(pl.DataFrame(rows)).is_empty()
    assert calibrate(pl.DataFrame()).is_empty()
