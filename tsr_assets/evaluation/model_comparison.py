"""Paired comparisons of two models' judge scores, with a cluster bootstrap over openers.

Every model of a language is sampled from the same evaluation openers: `prompt_id` names the
opener, `sample_index` (0..k-1, typically k = 3) the samples drawn from it, and every sample
gets a judge score per metric. Two things follow for comparing models A and B:

- **Paired.** Openers differ a lot in how good a story they allow (a dull opener drags every
  model's score down), and both models saw the same openers. Comparing the models opener by
  opener, `d_o = mean(A's samples at o) - mean(B's samples at o)`, cancels the opener's own
  effect; what is left is the models' difference plus noise. An unpaired test puts the
  between-opener spread into the standard error as if it were noise, and so misses real
  differences (its interval is much wider than it needs to be).
- **Clustered.** The k samples of one opener are not independent: they share the opener, and
  their scores are correlated. Counting them as k independent observations makes a standard
  error too small by up to sqrt(k) (3 exact copies of each sample would look like 3 times the
  data). The unit of independent replication is the opener, so the bootstrap resamples openers
  with replacement and keeps all samples of an opener together.

`compare_models` computes, for every language x judge x metric and every pair of models that
share at least 2 openers:

- `mean_difference`: the mean over common openers of `d_o` (A - B). With the same number of
  samples at every opener it equals `mean_a - mean_b`; otherwise every opener weighs the same,
  whatever its number of samples.
- `ci95_low`, `ci95_high`: the 2.5 % and 97.5 % percentiles of the cluster-bootstrap
  distribution of the mean difference (`resamples` resamples of the common openers).
- `p_value`: two-sided, from the same bootstrap distribution shifted to the null,
  `p = (1 + #{r : |t_r - t| >= |t|}) / (resamples + 1)`, with `t` the observed mean difference
  and `t_r` the resampled ones (so p >= 1 / (resamples + 1), and p = 1 when every opener's
  difference is 0). Chosen over a paired t-test on the per-opener differences because it comes
  from the very distribution the interval is read off, so the two agree: for a roughly
  symmetric bootstrap distribution, `p < 0.05` exactly when the interval excludes 0. It also
  assumes nothing about the shape of the differences, which for judge scores (bounded,
  discrete, often skewed) are not normal. Its weakness is the bootstrap's: with few openers
  (below about 20) interval and p are optimistic; a t-test would be the better choice there.
- `z_unpaired`, `p_unpaired`, `ci95_unpaired_low`, `ci95_unpaired_high`: the statistic of the
  original TinyStories Regional study, an unpaired two-sample Z-test over all samples
  (`z = (mean_a - mean_b) / sqrt(var_a / n_a + var_b / n_b)`, sample variances). It is not the
  right test for this design (it ignores both pairing and clustering) and is here only so the
  numbers can be set side by side with the study's: where both agree, nothing changes; where
  the paired test finds a difference the Z-test did not, the study's "no significant
  difference" was a matter of the test, not of the models.

A model is (tokenizer, preset, corpus) within a language and judge; a NULL corpus counts as
`generated`, the warehouse's default. Rows whose value is NULL, NaN or infinite are left out,
so an opener where one model has no usable score on a metric is not a common opener of that
metric. Every row of the input is one sample (the warehouse keeps one run per partition).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

#: Columns of `compare_models`'s frame, in order, with their polars types.
MODEL_COMPARISON_SCHEMA: dict[str, pl.DataType] = {
    "language": pl.String(),
    "judge": pl.String(),
    "metric": pl.String(),
    "model_a": pl.String(),
    "model_b": pl.String(),
    "tokenizer_a": pl.String(),
    "preset_a": pl.String(),
    "corpus_a": pl.String(),
    "tokenizer_b": pl.String(),
    "preset_b": pl.String(),
    "corpus_b": pl.String(),
    "openers": pl.Int64(),
    "n_a": pl.Int64(),
    "n_b": pl.Int64(),
    "mean_a": pl.Float64(),
    "mean_b": pl.Float64(),
    "mean_difference": pl.Float64(),
    "ci95_low": pl.Float64(),
    "ci95_high": pl.Float64(),
    "p_value": pl.Float64(),
    "significant": pl.Boolean(),
    "z_unpaired": pl.Float64(),
    "p_unpaired": pl.Float64(),
    "ci95_unpaired_low": pl.Float64(),
    "ci95_unpaired_high": pl.Float64(),
    "resamples": pl.Int64(),
    "seed": pl.Int64(),
}

_GROUP = ["language", "judge", "metric"]
_MODEL = ["tokenizer", "preset", "corpus"]
_DEFAULT_CORPUS = "generated"
_Z95 = 1.96  # the 97.5 % normal point, written as 1.96 as in the unpaired formula
# Pairs whose resampled means are computed in one matrix product (bounds the memory of the
# resamples x pairs block).
_PAIR_BLOCK = 256


def _weights(openers: int, resamples: int, seed: int) -> np.ndarray:
    """The (resamples x openers) matrix of how often each opener is drawn in each resample.

    Row r is the bincount of `openers` draws with replacement from 0..openers-1, so row sums
    are `openers` and `weights @ d / openers` is the resampled mean of `d`. The generator is
    seeded with (seed, openers), so a pair's bootstrap depends only on the seed and its number
    of common openers, not on which other models, metrics or languages were in the same call.
    """
    rng = np.random.default_rng([seed, openers])
    draws = rng.integers(0, openers, size=(resamples, openers))
    draws += (np.arange(resamples, dtype=np.int64) * openers)[:, None]
    counts = np.bincount(draws.ravel(), minlength=resamples * openers)
    return counts.reshape(resamples, openers).astype(np.float64)


def _normal_two_sided_p(z: float) -> float:
    """Two-sided p of a standard normal statistic: P(|Z| >= |z|)."""
    if math.isnan(z):
        return math.nan
    return math.erfc(abs(z) / math.sqrt(2.0))


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=MODEL_COMPARISON_SCHEMA)


def compare_models(scores: pl.DataFrame, resamples: int = 2000, seed: int = 0,
                   alpha: float = 0.05) -> pl.DataFrame:
    """Paired, opener-clustered comparisons of every pair of models, per language, judge and
    metric, with the original study's unpaired Z-test alongside.

    `scores` has the `judge_scores` columns (at least language, judge, metric, tokenizer,
    preset, corpus, prompt_id, value). For each language x judge x metric, models are sorted
    by (tokenizer, preset, corpus) and every pair A < B that shares at least 2 openers (openers
    where both have a usable score on the metric) gets one row; the columns are
    `MODEL_COMPARISON_SCHEMA` and are described in the module docstring. `n_a`, `n_b`,
    `mean_a`, `mean_b` and the unpaired statistics use only the samples on common openers.

    The bootstrap draws `resamples` resamples of the k common openers (k draws with
    replacement, all of an opener's samples together) and recomputes the mean of the
    per-opener differences; the interval is its 2.5 and 97.5 percentiles (always 95 %,
    whatever `alpha`). All pairs with the same k share one resampling matrix, seeded with
    (seed, k).

    The p-value is that bootstrap distribution shifted to the null (module docstring).
    `significant` is `p_value < alpha`. Unpaired statistics: `se = sqrt(var_a / n_a +
    var_b / n_b)` (sample variances, divisor n - 1), `z = (mean_a - mean_b) / se`, `p_unpaired`
    its two-sided normal p, interval `mean_a - mean_b -/+ 1.96 se`; where `se` is 0, z is 0
    (p 1) for equal means and +-inf (p 0) otherwise.

    The frame is sorted by language, judge, metric, model A, model B; an empty input (or one
    without any pair) gives an empty frame with the schema. The same input, `resamples` and
    `seed` give the same output.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if seed < 0:
        raise ValueError(f"seed must not be negative, got {seed}")
    frame = _usable(scores)
    if frame.height == 0:
        return _empty()
    # One row per model and opener: sample count, mean and sum of squared deviations from the
    # opener's mean (the pieces the overall mean and variance are assembled from, stably).
    cells = frame.group_by([*_GROUP, *_MODEL, "prompt_id"]).agg(
        pl.len().alias("count"),
        pl.col("value").mean().alias("mean"),
        (pl.col("value").var(ddof=0) * pl.len()).alias("m2"),
    )
    parts: list[dict[str, np.ndarray | list]] = []
    differences: list[np.ndarray] = []
    for key, group in sorted(cells.partition_by(_GROUP, as_dict=True).items()):
        part = _pairs_of_group(group, dict(zip(_GROUP, key, strict=True)), differences)
        if part is not None:
            parts.append(part)
    if not parts:
        return _empty()
    columns = {name: np.concatenate([np.asarray(part[name]) for part in parts])
               for name in parts[0]}
    _bootstrap(columns, differences, resamples, seed)
    _add_unpaired(columns, alpha, resamples, seed)
    return pl.DataFrame({name: columns[name] for name in MODEL_COMPARISON_SCHEMA},
                        schema=MODEL_COMPARISON_SCHEMA)


def _usable(scores: pl.DataFrame) -> pl.DataFrame:
    """The columns a comparison needs, typed, without NULL, NaN or infinite values."""
    if scores.height == 0:
        return scores
    return scores.select(
        *[pl.col(name).cast(pl.String) for name in _GROUP],
        pl.col("tokenizer").cast(pl.String),
        pl.col("preset").cast(pl.String),
        pl.col("corpus").cast(pl.String).fill_null(_DEFAULT_CORPUS),
        pl.col("prompt_id").cast(pl.String),
        pl.col("value").cast(pl.Float64),
    ).filter(pl.col("value").is_not_null() & pl.col("value").is_finite())


def _add_unpaired(columns: dict, alpha: float, resamples: int, seed: int) -> None:
    """The original study's unpaired Z-test beside the paired columns, and `significant`."""
    raw = columns["mean_a"] - columns["mean_b"]
    se = np.sqrt(columns.pop("var_a") / columns["n_a"] + columns.pop("var_b") / columns["n_b"])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, raw / np.where(se > 0, se, 1.0), np.sign(raw) * np.inf)
    z = np.where((se == 0) & (raw == 0), 0.0, z)
    n_pairs = raw.size
    columns.update(
        significant=columns["p_value"] < alpha,
        z_unpaired=z,
        p_unpaired=np.array([_normal_two_sided_p(float(value)) for value in z]),
        ci95_unpaired_low=raw - _Z95 * se,
        ci95_unpaired_high=raw + _Z95 * se,
        resamples=np.full(n_pairs, resamples, dtype=np.int64),
        seed=np.full(n_pairs, seed, dtype=np.int64),
    )


def _pairs_of_group(cells: pl.DataFrame, key: dict[str, str],
                    differences: list[np.ndarray]) -> dict[str, np.ndarray | list] | None:
    """The pairs of one language x judge x metric (`cells`: one row per model and opener):
    their key, model and unpaired columns, and each pair's per-opener differences (A - B on
    the common openers) appended to `differences`."""
    models = cells.select(_MODEL).unique().sort(_MODEL).with_row_index("model")
    if models.height < 2:
        return None
    openers = cells.select("prompt_id").unique().sort("prompt_id").with_row_index("opener")
    cells = cells.join(models, on=_MODEL, how="left").join(openers, on="prompt_id", how="left")
    shape = (models.height, openers.height)
    where = (cells["model"].to_numpy().astype(np.int64),
             cells["opener"].to_numpy().astype(np.int64))
    count, mean, m2 = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    count[where] = cells["count"].to_numpy()
    mean[where] = cells["mean"].to_numpy()
    m2[where] = cells["m2"].to_numpy()
    present = count > 0
    shared = present.astype(np.int64) @ present.T.astype(np.int64)

    # Row-major order of the upper triangle: A ascending, then B ascending (models are sorted).
    pairs_a, pairs_b = np.nonzero(np.triu(shared >= 2, k=1))
    if pairs_a.size == 0:
        return None
    n_pairs = pairs_a.size
    stats = {name: np.empty(n_pairs) for name in (
        "n_a", "n_b", "mean_a", "mean_b", "var_a", "var_b", "mean_difference")}
    for i, (a, b) in enumerate(zip(pairs_a, pairs_b, strict=True)):
        common = present[a] & present[b]
        d = mean[a, common] - mean[b, common]
        differences.append(d)
        stats["mean_difference"][i] = d.mean()
        for side, m in (("a", a), ("b", b)):
            c, mu, ss = count[m, common], mean[m, common], m2[m, common]
            n = c.sum()
            overall = (c * mu).sum() / n
            stats[f"n_{side}"][i] = n
            stats[f"mean_{side}"][i] = overall
            # Within-opener plus between-opener squared deviations from the overall mean.
            stats[f"var_{side}"][i] = (ss.sum() + (c * (mu - overall) ** 2).sum()) / (n - 1)

    part: dict[str, np.ndarray | list] = {name: [value] * n_pairs for name, value in key.items()}
    for side, index in (("a", pairs_a), ("b", pairs_b)):
        tok, pre, cor = ([names[i] for i in index]
                         for names in (models[name].to_list() for name in _MODEL))
        part[f"model_{side}"] = [f"{t}/{p}/{c}" for t, p, c in zip(tok, pre, cor, strict=True)]
        part[f"tokenizer_{side}"], part[f"preset_{side}"], part[f"corpus_{side}"] = tok, pre, cor
    part["openers"] = shared[pairs_a, pairs_b].astype(np.int64)
    for name in ("n_a", "n_b"):
        part[name] = stats.pop(name).astype(np.int64)
    part.update(stats)
    return part


def _bootstrap(columns: dict[str, np.ndarray], differences: list[np.ndarray], resamples: int,
               seed: int) -> None:
    """Add `ci95_low`, `ci95_high` and `p_value` to `columns` from the cluster bootstrap of
    every pair's per-opener differences. Pairs are taken by number of common openers k: one
    (resamples x k) weight matrix, one matrix product per block of pairs."""
    openers = columns["openers"]
    observed_all = columns["mean_difference"]
    ci_low, ci_high, p_value = (np.empty(openers.size) for _ in range(3))
    for k in np.unique(openers):
        k = int(k)
        weights = _weights(k, resamples, seed)
        same_k = np.nonzero(openers == k)[0]
        for start in range(0, same_k.size, _PAIR_BLOCK):
            chosen = same_k[start:start + _PAIR_BLOCK]
            d = np.column_stack([differences[i] for i in chosen])  # k x pairs
            boot = weights @ d / k  # resamples x pairs
            observed = observed_all[chosen]
            ci_low[chosen], ci_high[chosen] = np.quantile(boot, [0.025, 0.975], axis=0)
            extreme = (np.abs(boot - observed) >= np.abs(observed)).sum(axis=0)
            p_value[chosen] = (1 + extreme) / (resamples + 1)
    columns.update(ci95_low=ci_low, ci95_high=ci_high, p_value=p_value)
