"""The `judge_agreement` and `judge_length_bias` views against hand-computed numbers and the
pure-Python reference functions."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

import duckdb
import pytest
from scipy import stats as scipy_stats

from tsr_assets.core import warehouse
from tsr_assets.evaluation.judge_agreement import (
    average_ranks,
    pearson,
    quadratic_weighted_kappa,
    spearman,
)

A, B, C, D = "llm:judge-a", "llm:judge-b", "llm:judge-c", "llm:judge-d"
BPE = ("hindi", "bpe", "tiny", "generated")  # language, tokenizer, preset, corpus
BPE_OTHER_CORPUS = ("hindi", "bpe", "tiny", "tinystories")
UNIGRAM = ("hindi", "unigram", "tiny", "generated")

# Overall scores of the 8 samples of BPE (judges A and B agree exactly; C scored the first 5
# only, in exactly the reverse order of A, ties included).
OVERALL_A = [3, 5, 5, 7, 8, 2, 9, 6]
OVERALL_C = [9, 6, 6, 4, 2]
# Continuation lengths in words of the 8 samples of BPE: the square of A's overall score, so
# they rise with it (ties included) but not linearly.
WORDS_BPE = [score * score for score in OVERALL_A]
GRAMMAR_A, GRAMMAR_B = [6, 7, 7, 9], [5, 7, 8, 8]


def _key(index: int) -> tuple[str, int]:
    """(prompt_id, sample_index) of sample `index`: two samples per opener."""
    return f"opener-{index // 2:03d}", index % 2


def _text(words: int, seed: int) -> str:
    """A continuation of exactly `words` whitespace-separated words, separated (and
    surrounded) by assorted whitespace, Unicode spaces included."""
    spaces = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", " \r\n ", "\u2009", "\x0b"]
    rng = random.Random(seed)
    parts = [rng.choice(spaces) if seed % 2 else ""]
    for i in range(words):
        parts.append(f"शब्द{i}।" if i % 3 else "—")
        parts.append(rng.choice(spaces) if i < words - 1 or seed % 3 else "")
    return "".join(parts)


def _scores(partition: tuple[str, ...], judge: str, metric: str, values: Sequence[float],
            first: int = 0) -> list[tuple]:
    return [(*partition, judge, metric, float(value), *_key(first + i))
            for i, value in enumerate(values)]


def _samples(partition: tuple[str, ...], lengths: Sequence[int | None]) -> list[tuple]:
    return [(*partition, *_key(i), None if n is None else _text(n, seed=i), n)
            for i, n in enumerate(lengths)]


def _database() -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse with the tables and both views, as the platform creates them."""
    con = duckdb.connect()
    warehouse.ensure_tables(con)
    return con


def _insert(con: duckdb.DuckDBPyConnection, scores: list[tuple], samples: list[tuple]) -> None:
    if scores:  # DuckDB's executemany refuses an empty list
        con.executemany(
            "INSERT INTO judge_scores (language, tokenizer, preset, corpus, judge, metric,"
            " value, prompt_id, sample_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", scores)
    if samples:
        con.executemany(
            "INSERT INTO samples (language, tokenizer, preset, corpus, prompt_id, sample_index,"
            " continuation, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", samples)


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """The hand-made warehouse: three partitions (two corpora of one model, another
    tokenizer), four LLM judges and the automatic judge."""
    con = _database()
    scores = [
        # BPE: A and B agree on overall; C shares 5 samples; grammar by A and B on samples
        # 0-3 and by C on samples 5-7 only (no shared sample); creativity by A on 0-3 and D on
        # sample 0 only (one shared sample: no row); completeness by A and the automatic judge.
        *_scores(BPE, A, "overall", OVERALL_A),
        *_scores(BPE, B, "overall", OVERALL_A),
        *_scores(BPE, C, "overall", OVERALL_C),
        *_scores(BPE, A, "grammar", GRAMMAR_A),
        *_scores(BPE, B, "grammar", GRAMMAR_B),
        *_scores(BPE, C, "grammar", [3, 9, 4], first=5),
        *_scores(BPE, A, "creativity", [4, 6, 8, 2]),
        *_scores(BPE, D, "creativity", [5]),
        *_scores(BPE, A, "completeness", [8, 6, 9, 7]),
        *_scores(BPE, "automatic", "completeness", [1, 0, 1, 1, 0, 1, 1, 0]),
        *_scores(BPE, "automatic", "length_words", WORDS_BPE),
        *_scores(BPE, "automatic", "distinct_2", [0.9, 0.8, 0.7, 0.95, 0.5, 1.0, 0.6, 0.85]),
        # The same samples' keys in another corpus: A and B disagree completely there.
        *_scores(BPE_OTHER_CORPUS, A, "overall", [1, 2, 3, 4]),
        *_scores(BPE_OTHER_CORPUS, B, "overall", [4, 3, 2, 1]),
        # Another tokenizer: constant scores.
        *_scores(UNIGRAM, A, "overall", [5, 5, 5]),
        *_scores(UNIGRAM, B, "overall", [5, 5, 5]),
        *_scores(UNIGRAM, A, "fluency", [4, 4, 4]),
        *_scores(UNIGRAM, B, "fluency", [6, 6, 6]),
    ]
    samples = [*_samples(BPE, WORDS_BPE), *_samples(BPE_OTHER_CORPUS, [1, 2, 3, 4]),
               *_samples(UNIGRAM, [1, 2, 3])]
    _insert(con, scores, samples)
    yield con
    con.close()


def _rows(con: duckdb.DuckDBPyConnection, view: str, key_columns: int) -> dict[tuple, tuple]:
    """The view's rows as {key columns: other columns}."""
    return {row[:key_columns]: row[key_columns:]
            for row in con.execute(f"SELECT * FROM {view}").fetchall()}


def test_agreement_view_columns(con: duckdb.DuckDBPyConnection) -> None:
    columns = [c[0] for c in con.execute("SELECT * FROM judge_agreement LIMIT 0").description]
    assert columns == ["language", "tokenizer", "preset", "corpus", "metric", "judge_a",
                       "judge_b", "n", "spearman", "weighted_kappa"]
    columns = [c[0] for c in con.execute("SELECT * FROM judge_length_bias LIMIT 0").description]
    assert columns == ["language", "tokenizer", "preset", "corpus", "judge", "n",
                       "length_spearman", "length_pearson"]


def test_agreement_by_hand(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(con, "judge_agreement", 7)
    # grammar, A = [6, 7, 7, 9], B = [5, 7, 8, 8] (by hand):
    #   average ranks A = [1, 2.5, 2.5, 4], B = [1, 2, 3.5, 3.5], both with mean 2.5;
    #   deviations A = [-1.5, 0, 0, 1.5], B = [-1.5, -0.5, 1, 1];
    #   sum of products = 2.25 + 0 + 0 + 1.5 = 3.75; sums of squares 4.5 and 4.5;
    #   spearman = 3.75 / sqrt(4.5 * 4.5) = 5/6.
    #   means 7.25 and 7; population var A = (1.5625 + 0.0625 + 0.0625 + 3.0625) / 4 = 1.1875,
    #   var B = (4 + 0 + 1 + 1) / 4 = 1.5, cov = (2.5 + 0 - 0.25 + 1.75) / 4 = 1;
    #   kappa = 2 * 1 / (1.1875 + 1.5 + 0.25^2) = 2 / 2.75 = 8/11.
    #   Confusion-matrix form: mean (a - b)^2 = (1 + 0 + 1 + 1) / 4 = 0.75 observed, mean over
    #   all 16 (a_i, b_j) pairs of (a_i - b_j)^2 = 2.75 by chance: 1 - 0.75 / 2.75 = 8/11.
    # overall, A = [3, 5, 5, 7, 8] vs C = [9, 6, 6, 4, 2] on the 5 shared samples: ranks
    #   [1, 2.5, 2.5, 4, 5] and [5, 3.5, 3.5, 2, 1] add up to 6 everywhere, so spearman = -1;
    #   means 5.6 and 5.4, var 15.2 / 5 = 3.04 and 27.2 / 5 = 5.44, cov = -20.2 / 5 = -4.04:
    #   kappa = -8.08 / (3.04 + 5.44 + 0.04) = -8.08 / 8.52 = -202/213.
    # other corpus, A = [1, 2, 3, 4] vs B = [4, 3, 2, 1]: var 1.25 each, cov -1.25, equal
    #   means: kappa = -2.5 / 2.5 = -1.
    # unigram fluency, A = [4, 4, 4] vs B = [6, 6, 6]: ranks constant -> spearman NULL;
    #   cov 0, denominator 0 + 0 + 2^2 -> kappa 0. Overall [5, 5, 5] twice: both NULL.
    expected = {
        (*BPE, "overall", A, B): (8, 1.0, 1.0),
        (*BPE, "overall", A, C): (5, -1.0, -202 / 213),
        (*BPE, "overall", B, C): (5, -1.0, -202 / 213),
        (*BPE, "grammar", A, B): (4, 5 / 6, 8 / 11),
        (*BPE_OTHER_CORPUS, "overall", A, B): (4, -1.0, -1.0),
        (*UNIGRAM, "overall", A, B): (3, None, None),
        (*UNIGRAM, "fluency", A, B): (3, None, 0.0),
    }
    # No row for: grammar A/B vs C (no shared sample), creativity A vs D (one shared sample),
    # anything with the automatic judge (completeness is 0/1 there), a judge with itself.
    assert set(rows) == set(expected)
    for key, (n, rho, kappa) in expected.items():
        got_n, got_rho, got_kappa = rows[key]
        assert got_n == n, key
        assert got_rho == (None if rho is None else pytest.approx(rho, abs=1e-12)), key
        assert got_kappa == (None if kappa is None else pytest.approx(kappa, abs=1e-12)), key


def test_agreement_equals_the_reference_functions(con: duckdb.DuckDBPyConnection) -> None:
    rows = _rows(con, "judge_agreement", 7)
    cases = {
        (*BPE, "overall", A, B): (OVERALL_A, OVERALL_A),
        (*BPE, "overall", A, C): (OVERALL_A[:5], OVERALL_C),
        (*BPE, "grammar", A, B): (GRAMMAR_A, GRAMMAR_B),
        (*UNIGRAM, "fluency", A, B): ([4, 4, 4], [6, 6, 6]),
        (*UNIGRAM, "overall", A, B): ([5, 5, 5], [5, 5, 5]),
    }
    for key, (a, b) in cases.items():
        n, rho, kappa = rows[key]
        assert n == len(a)
        assert rho == (None if spearman(a, b) is None else pytest.approx(spearman(a, b)))
        reference = quadratic_weighted_kappa(a, b)
        assert kappa == (None if reference is None else pytest.approx(reference))
    assert spearman([5, 5, 5], [1, 2, 3]) is None and spearman([1], [2]) is None
    assert quadratic_weighted_kappa([], []) is None
    assert average_ranks([30, 10, 20, 10, 30, 30]) == [5, 1.5, 3, 1.5, 5, 5]


def _closed_form_kappa(a: Sequence[float], b: Sequence[float]) -> float:
    """2 cov(a, b) / (var(a) + var(b) + (mean(a) - mean(b))^2), population moments."""
    n = len(a)
    mean_a, mean_b = sum(a) / n, sum(b) / n
    cov = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True)) / n
    var_a = sum((x - mean_a) ** 2 for x in a) / n
    var_b = sum((y - mean_b) ** 2 for y in b) / n
    return 2 * cov / (var_a + var_b + (mean_a - mean_b) ** 2)


def test_kappa_identity_matches_the_confusion_matrix() -> None:
    rng = random.Random(7)
    for trial in range(500):
        n = rng.randint(2, 40)
        low, high = rng.choice([(1, 10), (1, 3), (4, 7), (1, 10)])
        a = [rng.randint(low, high) for _ in range(n)]
        b = ([min(10, max(1, x + rng.randint(-2, 2))) for x in a] if trial % 2
             else [rng.randint(low, high) for _ in range(n)])
        kappa = quadratic_weighted_kappa(a, b)
        if len(set(a) | set(b)) == 1:
            assert kappa is None
        else:
            assert kappa == pytest.approx(_closed_form_kappa(a, b), abs=1e-12), (a, b)
    assert quadratic_weighted_kappa([1, 10, 5], [1, 10, 5]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="outside the categories"):
        quadratic_weighted_kappa([0, 3], [1, 3])


def test_reference_functions_against_scipy() -> None:
    # scipy is in the dev extra (pyproject.toml): this runs wherever the suite does. The
    # weighted kappa is checked against its confusion-matrix definition above.
    rng = random.Random(11)
    compared = 0
    for _ in range(100):
        n = rng.randint(3, 30)
        a = [rng.randint(1, 10) for _ in range(n)]
        b = [rng.randint(1, 10) for _ in range(n)]
        if len(set(a)) > 1 and len(set(b)) > 1:
            assert spearman(a, b) == pytest.approx(scipy_stats.spearmanr(a, b).statistic,
                                                   abs=1e-12)
            assert pearson(a, b) == pytest.approx(scipy_stats.pearsonr(a, b).statistic,
                                                  abs=1e-12)
            compared += 1
    assert compared == 100


def test_agreement_view_on_random_scores_equals_the_reference() -> None:
    con = _database()
    rng = random.Random(3)
    judges = {A: range(0, 30), B: range(5, 40), C: range(25, 60)}  # partial overlaps
    values: dict[str, dict[int, int]] = {
        judge: {i: rng.choice([2, 5, 5, 6, 7, 7, 7, 8, 9]) for i in samples}
        for judge, samples in judges.items()}
    scores = [(*BPE, judge, "overall", float(v), *_key(i))
              for judge, by_sample in values.items() for i, v in by_sample.items()]
    _insert(con, scores, [])
    rows = _rows(con, "judge_agreement", 7)
    assert set(rows) == {(*BPE, "overall", A, B), (*BPE, "overall", A, C),
                         (*BPE, "overall", B, C)}
    for (*_, judge_a, judge_b), (n, rho, kappa) in rows.items():
        shared = sorted(set(values[judge_a]) & set(values[judge_b]))
        a = [values[judge_a][i] for i in shared]
        b = [values[judge_b][i] for i in shared]
        assert n == len(shared)
        assert rho == pytest.approx(spearman(a, b), abs=1e-12)
        assert kappa == pytest.approx(quadratic_weighted_kappa(a, b), abs=1e-12)
    con.close()


def test_length_bias(con: duckdb.DuckDBPyConnection) -> None:
    # The SQL word count is Python's `len(text.split())`, whatever whitespace separates words.
    counts = con.execute(
        "SELECT continuation, tokens,"
        r" len(regexp_extract_all(continuation, '[^\s\v\pZ\x{85}\x{1c}-\x{1f}]+'))"
        " FROM samples").fetchall()
    assert all(len(text.split()) == tokens == words for text, tokens, words in counts)
    rows = _rows(con, "judge_length_bias", 5)
    # BPE: A's and B's overall rise with the length (length = score^2, ties matched): rank
    # correlation exactly 1, linear correlation below 1; C's overall falls with it: -1.
    # Other corpus: lengths [1, 2, 3, 4], A [1, 2, 3, 4] -> 1, B [4, 3, 2, 1] -> -1, Pearson
    # the same. Unigram: A and B gave [5, 5, 5] -> both NULL. Automatic: no `overall`, no row.
    expected = {
        (*BPE, A): (8, 1.0, pearson(OVERALL_A, WORDS_BPE)),
        (*BPE, B): (8, 1.0, pearson(OVERALL_A, WORDS_BPE)),
        (*BPE, C): (5, -1.0, pearson(OVERALL_C, WORDS_BPE[:5])),
        (*BPE_OTHER_CORPUS, A): (4, 1.0, 1.0),
        (*BPE_OTHER_CORPUS, B): (4, -1.0, -1.0),
        (*UNIGRAM, A): (3, None, None),
        (*UNIGRAM, B): (3, None, None),
    }
    assert set(rows) == set(expected)
    assert 0.9 < expected[(*BPE, A)][2] < 1  # squares: monotone, not linear
    for key, (n, rho, r) in expected.items():
        got_n, got_rho, got_r = rows[key]
        assert got_n == n, key
        assert got_rho == (None if rho is None else pytest.approx(rho, abs=1e-12)), key
        assert got_r == (None if r is None else pytest.approx(r, abs=1e-12)), key
    assert spearman(OVERALL_C, WORDS_BPE[:5]) == pytest.approx(-1.0)


def test_length_bias_counts_empty_and_skips_null_continuations() -> None:
    con = _database()
    _insert(con, _scores(BPE, A, "overall", [1, 2, 3, 9]),
            [(*BPE, *_key(0), "", 0), (*BPE, *_key(1), " \n\t ", 0),
             (*BPE, *_key(2), "एक दो", 2), (*BPE, *_key(3), None, None)])
    rows = _rows(con, "judge_length_bias", 5)
    # Lengths [0, 0, 2] against scores [1, 2, 3] (the NULL continuation is left out): ranks
    # [1.5, 1.5, 3] vs [1, 2, 3] -> deviations [-0.5, -0.5, 1] and [-1, 0, 1]:
    # 1.5 / sqrt(1.5 * 2) = sqrt(3) / 2.
    n, rho, r = rows[(*BPE, A)]
    assert n == 3
    assert rho == pytest.approx(3 ** 0.5 / 2)
    assert r == pytest.approx(pearson([1, 2, 3], [0, 0, 2]))
    con.close()
