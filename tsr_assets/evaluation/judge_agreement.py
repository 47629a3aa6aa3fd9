r"""How far judges agree with each other, and how far a judge's verdict follows story length:
pure-Python reference implementations (Spearman with average ranks for ties, Pearson,
quadratic weighted kappa) of the statistics of the warehouse views `judge_agreement` and
`judge_length_bias`. The views, and the exact definitions of every column, are in
`core/judge_views.py` (the warehouse owns its views; nothing in `core` imports this package).
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
