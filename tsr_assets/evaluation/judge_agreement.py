r"""How far judges agree with each other, and how far a judge's verdict follows story length:
pure-Python reference implementations of the statistics of the warehouse views
`judge_agreement` and `judge_length_bias`, whose SQL is in `core/judge_views.py` (the
warehouse owns its views; nothing in `core` imports this package).

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

import math
from collections.abc import Sequence

# The views themselves, for callers that look for them here.
from tsr_assets.core.judge_views import JUDGE_AGREEMENT_SQL, JUDGE_LENGTH_BIAS_SQL  # noqa: F401


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of `values`, tied values all getting the average of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):  # positions start..end hold ranks start+1..end+1
            ranks[order[position]] = (start + end + 2) / 2
        start = end + 1
    return ranks


def pearson(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pearson's correlation of two equally long lists; None with fewer than 2 pairs or when a
    list is constant."""
    if len(a) != len(b):
        raise ValueError(f"lists of different lengths: {len(a)} and {len(b)}")
    n = len(a)
    if n < 2:
        return None
    mean_a, mean_b = sum(a) / n, sum(b) / n
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    var_a = sum((x - mean_a) ** 2 for x in a)
    var_b = sum((y - mean_b) ** 2 for y in b)
    if var_a == 0 or var_b == 0:
        return None
    return cov / math.sqrt(var_a * var_b)


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation: Pearson's correlation of the average ranks (ties share the
    average of their ranks). None with fewer than 2 pairs or when a list is constant."""
    if len(a) != len(b):
        raise ValueError(f"lists of different lengths: {len(a)} and {len(b)}")
    return pearson(average_ranks(a), average_ranks(b))


def quadratic_weighted_kappa(a: Sequence[float], b: Sequence[float],
                             categories: Sequence[int] = range(1, 11)) -> float | None:
    """Cohen's quadratic weighted kappa of two raters' scores of the same items.

    Built from the explicit k x k matrices: O, the observed share of items rated
    (categories[i], categories[j]); E, the share expected by chance from the two marginals
    (row total i times column total j); weights (i - j)^2 / (k - 1)^2 on category positions.
    Returns `1 - sum(w*O) / sum(w*E)`; None with no items or when `sum(w*E)` is 0 (both raters
    used one and the same category throughout). A score outside `categories` is an error.
    """
    if len(a) != len(b):
        raise ValueError(f"lists of different lengths: {len(a)} and {len(b)}")
    k = len(categories)
    if k < 2:
        raise ValueError("quadratic weighted kappa needs at least 2 categories")
    position = {category: i for i, category in enumerate(categories)}
    n = len(a)
    if n == 0:
        return None
    observed = [[0.0] * k for _ in range(k)]
    for x, y in zip(a, b, strict=True):
        if x not in position or y not in position:
            raise ValueError(f"score pair ({x}, {y}) outside the categories {list(categories)}")
        observed[position[x]][position[y]] += 1 / n
    rows = [sum(observed[i]) for i in range(k)]
    columns = [sum(observed[i][j] for i in range(k)) for j in range(k)]
    weight = [[(i - j) ** 2 / (k - 1) ** 2 for j in range(k)] for i in range(k)]
    disagreement = sum(weight[i][j] * observed[i][j] for i in range(k) for j in range(k))
    chance = sum(weight[i][j] * rows[i] * columns[j] for i in range(k) for j in range(k))
    if chance == 0:
        return None
    return 1 - disagreement / chance
