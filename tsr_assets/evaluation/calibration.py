"""Is the judge right? Each judge's scores against the human raters' (no Dagster).

Human ratings are `judge_scores` rows whose judge is `human:<rater>`, with the rubric's
criteria as metric names (`overall`, `grammar`, ...). A story is one sample of one model:
(language, tokenizer, preset, corpus, prompt_id, sample_index). `calibrate` gives, per
language, judge and criterion:

- `n`: stories scored by the judge and by at least one human; the humans' score of a story is
  the mean of its raters' scores.
- `spearman` with `spearman_ci95_low` / `_high`: Spearman's rank correlation (average ranks
  for ties) of the judge and the humans' mean over the n stories, with the 2.5 and 97.5
  percentiles of a bootstrap over stories (`resamples` resamples of the n stories with
  replacement, seeded with (seed, n)).
- `alpha_judge_humans`: Krippendorff's alpha, interval scale (the `krippendorff` package),
  between the judge and the humans' mean, as two coders of the n stories: 1 = the same
  scores, 0 = agreement at chance level.
- `alpha_humans`: Krippendorff's alpha (interval) between the human raters alone over the same
  stories (each rater a coder, missing ratings left out): the ceiling a judge can reach,
  since it cannot agree with the humans better than they agree with each other.
- `mean_difference` (with its bootstrap interval): mean of judge − humans' mean; above 0 the
  judge inflates scores.
- `kendall_tau`, `same_model_order`: each model's (tokenizer, preset, corpus) mean over the
  common stories, by the judge and by the humans; Kendall's tau-b between the two lists of
  model means, and whether every pair of models is ordered the same way (no pair discordant
  or tied on one side only). NULL with fewer than 2 models.

The `automatic` judge's metrics are not on the 1-10 scale (continuity, bits per character,
...): each is set against the humans' `overall` (`human_metric`), with Spearman and Kendall
only (alpha and the mean difference are not defined across scales; for metrics where lower is
better, such as `repetition_rate`, a good metric correlates negatively). Every other judge is
compared criterion by criterion (`metric` = `human_metric`).

One more row per language and criterion has judge `humans`: Krippendorff's alpha between the
raters over every story that at least two of them rated (`n`), and the number of raters.
"""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import polars as pl

HUMAN_PREFIX = "human:"
#: The judge name of the humans-only rows.
HUMANS = "humans"
AUTOMATIC = "automatic"
#: What the automatic judge's metrics are set against.
AUTOMATIC_HUMAN_METRIC = "overall"

CALIBRATION_SCHEMA: dict[str, pl.DataType] = {
    "language": pl.String(),
    "judge": pl.String(),
    "metric": pl.String(),
    "human_metric": pl.String(),
    "raters": pl.Int64(),
    "n": pl.Int64(),
    "spearman": pl.Float64(),
    "spearman_ci95_low": pl.Float64(),
    "spearman_ci95_high": pl.Float64(),
    "alpha_judge_humans": pl.Float64(),
    "alpha_humans": pl.Float64(),
    "judge_mean": pl.Float64(),
    "humans_mean": pl.Float64(),
    "mean_difference": pl.Float64(),
    "mean_difference_ci95_low": pl.Float64(),
    "mean_difference_ci95_high": pl.Float64(),
    "models": pl.Int64(),
    "kendall_tau": pl.Float64(),
    "same_model_order": pl.Boolean(),
    "resamples": pl.Int64(),
    "seed": pl.Int64(),
}

_STORY = ["tokenizer", "preset", "corpus", "prompt_id", "sample_index"]
_MODEL = ["tokenizer", "preset", "corpus"]


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of `values`, tied values all getting the mean of the ranks they span."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], values.size] - 1
    mean_rank = (first + last) / 2.0 + 1.0
    ranks = np.empty(values.size)
    ranks[order] = mean_rank[group]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when a side is constant or
    there are fewer than 2 values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return math.nan
    rx, ry = average_ranks(x), average_ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else math.nan


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's tau-b: (concordant − discordant) / sqrt((pairs − ties in x) * (pairs − ties
    in y)); NaN with fewer than 2 values or when a side is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    i, j = np.triu_indices(x.size, k=1)
    sx, sy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    untied_x, untied_y = int((sx != 0).sum()), int((sy != 0).sum())
    if untied_x == 0 or untied_y == 0:
        return math.nan
    return float((sx * sy).sum() / math.sqrt(untied_x * untied_y))


def same_order(x: np.ndarray, y: np.ndarray) -> bool | None:
    """Whether two score lists order every pair the same way (ties must match); None with
    fewer than 2 values."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 2:
        return None
    i, j = np.triu_indices(x.size, k=1)
    return bool(np.all(np.sign(x[i] - x[j]) == np.sign(y[i] - y[j])))


def interval_alpha(reliability: np.ndarray) -> float:
    """Krippendorff's alpha on the interval scale of a (coders x units) matrix, NaN where a
    coder did not rate a unit. NaN when no unit has two values, or every value is the same
    (no disagreement is possible)."""
    data = np.asarray(reliability, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < 2:
        return math.nan
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    values = data[:, pairable]
    values = values[~np.isnan(values)]
    if values.size < 2 or np.all(values == values[0]):
        return math.nan
    return float(krippendorff.alpha(reliability_data=data[:, pairable],
                                    level_of_measurement="interval"))


def _dense_ranks(values: np.ndarray) -> np.ndarray:
    """0-based dense ranks (equal values share one), as integers."""
    return np.unique(values, return_inverse=True)[1].astype(np.int64)


def _row_spearman(x_draws: np.ndarray, y_draws: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of two (resamples x n) matrices of dense ranks, average
    ranks for ties, at once: each row is shifted past the previous rows' values, so one sort
    ranks every row; NaN for a row where a side is constant."""
    rows, n = x_draws.shape

    def ranks(draws: np.ndarray) -> np.ndarray:
        span = int(draws.max()) + 1
        shifted = (draws + np.arange(rows, dtype=np.int64)[:, None] * span).ravel()
        ordered = np.sort(shifted)
        average = (np.searchsorted(ordered, shifted, "left")
                   + np.searchsorted(ordered, shifted, "right") + 1) / 2.0
        return average.reshape(rows, n) - (np.arange(rows)[:, None] * n)

    rx, ry = ranks(x_draws), ranks(y_draws)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denominator = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, (rx * ry).sum(axis=1) / denominator, np.nan)


def _bootstrap(judge: np.ndarray, humans: np.ndarray, resamples: int, seed: int
               ) -> tuple[float, float, float, float]:
    """Percentile 95% intervals of Spearman and of the mean difference over resampled
    stories (the generator seeded with (seed, n))."""
    n = judge.size
    rng = np.random.default_rng([seed, n])
    draws = rng.integers(0, n, size=(resamples, n))
    differences = (judge - humans)[draws].mean(axis=1)
    rhos = _row_spearman(_dense_ranks(judge)[draws], _dense_ranks(humans)[draws])
    low, high = (np.nanquantile(rhos, [0.025, 0.975]) if np.isfinite(rhos).any()
                 else (math.nan, math.nan))
    d_low, d_high = np.quantile(differences, [0.025, 0.975])
    return float(low), float(high), float(d_low), float(d_high)


def _none(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _usable(scores: pl.DataFrame) -> pl.DataFrame:
    return scores.select(
        pl.col("language").cast(pl.String), pl.col("judge").cast(pl.String),
        pl.col("metric").cast(pl.String), pl.col("tokenizer").cast(pl.String),
        pl.col("preset").cast(pl.String),
        pl.col("corpus").cast(pl.String).fill_null("generated"),
        pl.col("prompt_id").cast(pl.String), pl.col("sample_index").cast(pl.Int64),
        pl.col("value").cast(pl.Float64),
    ).filter(pl.col("value").is_not_null() & pl.col("value").is_finite())


def _rater_matrix(humans: pl.DataFrame, stories: pl.DataFrame | None = None) -> np.ndarray:
    """(raters x stories) of one language and criterion, NaN where a rater did not rate;
    restricted to `stories` (their story columns) when given."""
    if stories is not None:
        humans = humans.join(stories.select(_STORY), on=_STORY, how="semi")
    if humans.is_empty():
        return np.empty((0, 0))
    wide = humans.group_by([*_STORY, "judge"]).agg(pl.col("value").mean()).pivot(
        on="judge", index=_STORY, values="value")
    raters = sorted(c for c in wide.columns if c not in _STORY)
    return wide.select(raters).to_numpy().astype(np.float64).T


def _judge_row(language: str, judge: str, metric: str, human_metric: str,
               judged: pl.DataFrame, humans: pl.DataFrame, resamples: int, seed: int
               ) -> dict | None:
    """One judge x criterion of a language against the humans (None when no story is
    shared)."""
    mean_of_humans = humans.group_by(_STORY).agg(pl.col("value").mean().alias("humans"))
    per_story = judged.group_by(_STORY).agg(pl.col("value").mean().alias("judge"))
    both = per_story.join(mean_of_humans, on=_STORY, how="inner").sort(_STORY)
    if both.is_empty():
        return None
    x, y = both["judge"].to_numpy(), both["humans"].to_numpy()
    same_scale = judge != AUTOMATIC
    low = high = d_low = d_high = math.nan
    if both.height >= 2:
        low, high, d_low, d_high = _bootstrap(x, y, resamples, seed)
    models = both.group_by(_MODEL).agg(pl.col("judge").mean(), pl.col("humans").mean()
                                       ).sort(_MODEL)
    mx, my = models["judge"].to_numpy(), models["humans"].to_numpy()
    return {
        "language": language, "judge": judge, "metric": metric, "human_metric": human_metric,
        "raters": humans["judge"].n_unique(), "n": both.height,
        "spearman": _none(spearman(x, y)), "spearman_ci95_low": _none(low),
        "spearman_ci95_high": _none(high),
        "alpha_judge_humans": _none(interval_alpha(np.vstack([x, y]))) if same_scale else None,
        "alpha_humans": _none(interval_alpha(_rater_matrix(humans, both))),
        "judge_mean": float(x.mean()), "humans_mean": float(y.mean()),
        "mean_difference": float((x - y).mean()) if same_scale else None,
        "mean_difference_ci95_low": _none(d_low) if same_scale else None,
        "mean_difference_ci95_high": _none(d_high) if same_scale else None,
        "models": models.height,
        "kendall_tau": _none(kendall_tau_b(mx, my)) if models.height >= 2 else None,
        "same_model_order": same_order(mx, my),
        "resamples": resamples, "seed": seed,
    }


def _humans_row(language: str, metric: str, humans: pl.DataFrame, resamples: int,
                seed: int) -> dict:
    """The raters' agreement among themselves on one criterion of a language."""
    matrix = _rater_matrix(humans)
    shared = int(((~np.isnan(matrix)).sum(axis=0) >= 2).sum()) if matrix.size else 0
    row = dict.fromkeys(CALIBRATION_SCHEMA)
    row.update(language=language, judge=HUMANS, metric=metric, human_metric=metric,
               raters=humans["judge"].n_unique(), n=shared,
               alpha_humans=_none(interval_alpha(matrix)) if matrix.size else None,
               humans_mean=float(humans["value"].mean()), resamples=resamples, seed=seed)
    return row


def calibrate(scores: pl.DataFrame, resamples: int = 2000, seed: int = 0) -> pl.DataFrame:
    """Every judge against the human raters, per language and criterion, and the raters'
    agreement among themselves (see the module docstring for every column).

    `scores` has the `judge_scores` columns (language, tokenizer, preset, corpus, judge,
    metric, value, prompt_id, sample_index); human raters are the judges named
    `human:<rater>`. Rows with a NULL, NaN or infinite value are left out. Sorted by
    language, judge, metric; empty (with the schema) when no human rated anything. The same
    input, `resamples` and `seed` give the same output.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    frame = _usable(scores) if scores.height else scores
    if frame.height == 0:
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    is_human = pl.col("judge").str.starts_with(HUMAN_PREFIX)
    human_rows, judge_rows = frame.filter(is_human), frame.filter(~is_human)
    rows = []
    for (language, metric), humans in sorted(
            human_rows.partition_by(["language", "metric"], as_dict=True).items()):
        rows.append(_humans_row(language, metric, humans, resamples, seed))
        for (judge, judge_metric), judged in sorted(judge_rows.filter(
                pl.col("language") == language).partition_by(["judge", "metric"],
                                                            as_dict=True).items()):
            wanted = AUTOMATIC_HUMAN_METRIC if judge == AUTOMATIC else judge_metric
            if wanted != metric:
                continue
            row = _judge_row(language, judge, judge_metric, metric, judged, humans,
                             resamples, seed)
            if row is not None:
                rows.append(row)
    if not rows:
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    return pl.DataFrame(rows, schema=CALIBRATION_SCHEMA).sort("language", "judge", "metric")
