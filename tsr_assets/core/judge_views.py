r"""Two warehouse views on how far judges agree with each other, and how far a judge's verdict
follows story length, as SQL (the bodies of `CREATE VIEW ... AS`); pure-Python reference
implementations of the same statistics are in `evaluation/judge_agreement.py`.

`judge_agreement` (language, tokenizer, preset, corpus, metric, judge_a, judge_b, n, spearman,
weighted_kappa): one row per pair of different judges (`judge_a < judge_b`, by name) that
scored the same samples on the same metric within one partition (language, tokenizer, preset,
corpus). The `automatic` judge is left out: its metrics are on other scales (its `completeness`
is 0 or 1, an LLM judge's is 1-10), so agreement with it is not defined. Rows whose value is
NULL, NaN or infinite are left out.

- `n`: the number of shared samples, i.e. samples (prompt_id, sample_index) that both judges
  scored on the metric. Only pairs with `n >= 2` get a row; judges that share no sample get
  none.
- `spearman`: Spearman's rank correlation over the shared samples: each judge's values are
  ranked 1..n, tied values all getting the average of the ranks they span (e.g. two values tied
  for 2nd and 3rd place both get 2.5), and `spearman` is the Pearson correlation of the two rank
  lists, `cov(ra, rb) / sqrt(var(ra) * var(rb))`. It runs from -1 (one judge ranks the samples
  exactly in reverse of the other) to 1 (same order). NULL when either judge gave every shared
  sample the same value (a variance of 0).
- `weighted_kappa`: Cohen's quadratic weighted kappa with chance agreement from the marginals.
  With categories c_1..c_k (1..10 for the LLM judges), O the k x k confusion matrix of
  observed proportions (O[i][j] = share of shared samples that judge a scored c_i and judge b
  scored c_j), E[i][j] = (row total i of O) * (column total j of O) the proportions expected if
  the judges scored independently with the same marginals, and weights w[i][j] =
  (i - j)^2 / (k - 1)^2,
  `kappa = 1 - sum(w * O) / sum(w * E)`.
  1 is perfect agreement, 0 is agreement at chance level, below 0 is worse than chance; a large
  disagreement costs more than a small one (quadratically). For equally spaced integer
  categories this is exactly
  `2 * cov(a, b) / (var(a) + var(b) + (mean(a) - mean(b))^2)`
  with population moments (divided by n), which is how the view computes it (no category list
  needed). NULL when both judges gave every shared sample one and the same value (no
  disagreement is possible, `sum(w * E) = 0`).

`judge_length_bias` (language, tokenizer, preset, corpus, judge, n, length_spearman,
length_pearson): one row per judge and partition, pairing the judge's `overall` score of a
sample with the length of that sample's continuation (the `samples` row with the same
language, tokenizer, preset, corpus, prompt_id and sample_index). A known bias of LLM judges is
to prefer longer stories; a clearly positive correlation is a warning sign.

- length: the number of whitespace-separated words of the continuation, exactly Python's
  `len(continuation.split())` (Unicode spaces count as separators; punctuation-only tokens
  count as words; 0 for an empty continuation). Samples with a NULL continuation are left out.
- `n`: the number of samples with both an `overall` score and a continuation; only `n >= 2`
  gets a row (the `automatic` judge has no `overall`, so it never does).
- `length_spearman`: Spearman's rank correlation (average ranks for ties, as above) of the
  overall score and the length; NULL when either is constant.
- `length_pearson`: Pearson's correlation of the overall score and the length; NULL when either
  is constant.
"""

from __future__ import annotations

# The partition a statistic is computed within, with the judges' pair and the metric.
_PAIR = "language, tokenizer, preset, corpus, metric, judge_a, judge_b"
_JUDGE = "language, tokenizer, preset, corpus, judge"

# A maximal run of characters that Python's `str.isspace` calls non-space: RE2's `\s` covers
# only ASCII \t\n\f\r and space, so \v, U+001C-U+001F, U+0085 and the Unicode spaces (Zs, Zl,
# Zp) are added to match `str.split()`.
WORD_PATTERN = r"[^\s\v\pZ\x{85}\x{1c}-\x{1f}]+"


def _average_rank(column: str, window: str) -> str:
    """SQL for the 1-based rank of `column` in `window`, ties given their average rank:
    (lowest rank of the tie + highest rank of the tie) / 2."""
    return (f"(rank() OVER ({window} ORDER BY {column}) + count(*) OVER {window} + 1"
            f" - rank() OVER ({window} ORDER BY {column} DESC)) / 2.0")


def _correlation(x: str, y: str) -> str:
    """SQL for Pearson's correlation, NULL (not DuckDB's NaN) when a side is constant."""
    return f"CASE WHEN var_pop({x}) > 0 AND var_pop({y}) > 0 THEN corr({x}, {y}) END"


JUDGE_AGREEMENT_SQL = f"""
    WITH scores AS (
        SELECT language, tokenizer, preset, corpus, metric, judge, prompt_id, sample_index,
               value
        FROM judge_scores
        WHERE judge <> 'automatic' AND isfinite(value)
    ),
    pairs AS (
        SELECT a.language, a.tokenizer, a.preset, a.corpus, a.metric,
               a.judge AS judge_a, b.judge AS judge_b, a.value AS x, b.value AS y
        FROM scores a
        JOIN scores b
          ON a.language = b.language AND a.tokenizer = b.tokenizer AND a.preset = b.preset
         AND a.corpus IS NOT DISTINCT FROM b.corpus AND a.metric = b.metric
         AND a.prompt_id = b.prompt_id AND a.sample_index IS NOT DISTINCT FROM b.sample_index
         AND a.judge < b.judge
    ),
    ranked AS (
        SELECT *,
               {_average_rank("x", "pair")} AS rank_x,
               {_average_rank("y", "pair")} AS rank_y
        FROM pairs
        WINDOW pair AS (PARTITION BY {_PAIR})
    )
    SELECT {_PAIR},
           count(*) AS n,
           {_correlation("rank_x", "rank_y")} AS spearman,
           2 * covar_pop(x, y)
             / NULLIF(var_pop(x) + var_pop(y) + pow(avg(x) - avg(y), 2), 0) AS weighted_kappa
    FROM ranked
    GROUP BY {_PAIR}
    HAVING count(*) >= 2
"""

JUDGE_LENGTH_BIAS_SQL = f"""
    WITH scored AS (
        SELECT j.language, j.tokenizer, j.preset, j.corpus, j.judge, j.value AS score,
               len(regexp_extract_all(s.continuation, '{WORD_PATTERN}'))::DOUBLE AS words
        FROM judge_scores j
        JOIN samples s
          ON j.language = s.language AND j.tokenizer = s.tokenizer AND j.preset = s.preset
         AND j.corpus IS NOT DISTINCT FROM s.corpus AND j.prompt_id = s.prompt_id
         AND j.sample_index IS NOT DISTINCT FROM s.sample_index
        WHERE j.metric = 'overall' AND isfinite(j.value) AND s.continuation IS NOT NULL
    ),
    ranked AS (
        SELECT *,
               {_average_rank("score", "judged")} AS rank_score,
               {_average_rank("words", "judged")} AS rank_words
        FROM scored
        WINDOW judged AS (PARTITION BY {_JUDGE})
    )
    SELECT {_JUDGE},
           count(*) AS n,
           {_correlation("rank_score", "rank_words")} AS length_spearman,
           {_correlation("score", "words")} AS length_pearson
    FROM ranked
    GROUP BY {_JUDGE}
    HAVING count(*) >= 2
"""
