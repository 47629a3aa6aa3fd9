"""Near-duplicate detection against planted near-copies with known Jaccard similarity."""

import random

import numpy as np
import polars as pl
import pytest

from tsr_assets.data_quality import near_duplicates
from tsr_assets.data_quality.near_duplicates import (
    SHINGLE_WORDS,
    find_near_duplicates,
    find_near_duplicates_in_batches,
    lsh_bands,
    shingle_hashes,
    signatures,
    story_words,
)
from tsr_assets.stories.corpus import Corpus

VOCAB = [f"शब्द{i}" for i in range(1500)] + [f"word{i}" for i in range(1500)]


def shingles(text: str) -> set[tuple[str, ...]]:
    words = story_words(text)
    return {tuple(words[i:i + SHINGLE_WORDS]) for i in range(len(words) - SHINGLE_WORDS + 1)}


def jaccard(a: str, b: str) -> float:
    x, y = shingles(a), shingles(b)
    return len(x & y) / len(x | y)


def planted_corpus(seed: int = 0) -> tuple[list[str], set[tuple[int, int]]]:
    """1,500 random stories; 150 near-copies (1-3 words changed, Jaccard about 0.9), 10
    exact copies, and 60 hard negatives (about a third of the words changed, Jaccard < 0.6)."""
    rng = random.Random(seed)
    texts = [" ".join(rng.choices(VOCAB, k=rng.randint(80, 140))) + "।" for _ in range(1500)]
    for i in range(150):
        words = texts[i].split()
        for _ in range(rng.randint(1, 3)):
            words[rng.randrange(len(words))] = rng.choice(VOCAB)
        texts.append(" ".join(words))
    texts += [texts[200 + i] for i in range(10)]
    for i in range(60):
        words = texts[300 + i].split()
        for k in range(0, len(words), 3):
            words[k] = rng.choice(VOCAB)
        texts.append(" ".join(words))
    # Ground truth: every pair of a story and its variant whose exact Jaccard is >= 0.8.
    variants = [(i, 1500 + i) for i in range(150)] + [(200 + i, 1650 + i) for i in range(10)] \
        + [(300 + i, 1660 + i) for i in range(60)]
    truth = {pair for pair in variants if jaccard(texts[pair[0]], texts[pair[1]]) >= 0.8}
    return texts, truth


def test_planted_near_duplicates_are_found_with_high_precision_and_recall() -> None:
    texts, truth = planted_corpus()
    # Most near-copies (a few with 3 changes fall below 0.8), the exact copies, no hard negative.
    assert 150 <= len(truth) <= 160 and not any(i >= 300 for i, _ in truth)
    result = find_near_duplicates(texts, threshold=0.8)
    found = {tuple(p) for p in result.pairs.tolist()}
    true_found = found & truth
    recall, precision = len(true_found) / len(truth), len(true_found) / len(found)
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    # Every reported pair really is similar (checked exactly, not by the estimate).
    assert all(jaccard(texts[i], texts[j]) >= 0.7 for i, j in found)
    assert len(result.clusters) == len(found)  # each planted pair is its own cluster
    assert sorted(result.extra_members) == sorted(j for _, j in found)
    assert result.rate == pytest.approx(len(found) / len(texts))


def test_clusters_join_chains_and_keep_the_oldest_first() -> None:
    base = " ".join(random.Random(1).choices(VOCAB, k=120))
    words = base.split()
    one = " ".join(words[:-1] + ["word0"])
    two = " ".join(words[:-2] + ["word1", "word0"])
    other = " ".join(random.Random(2).choices(VOCAB, k=120))
    result = find_near_duplicates([other, base, one, two, other])
    assert sorted(result.clusters.values()) == [[0, 4], [1, 2, 3]]
    similarity = result.similarity_to_first()
    assert similarity[1] == 1.0 and 0.85 <= similarity[3] < 1.0


def test_short_and_empty_stories_have_one_shingle() -> None:
    hashes, offsets = shingle_hashes(["", "one", "one two", "one two three four"])
    assert offsets.tolist() == [0, 1, 2, 3] and len(hashes) == 5
    assert hashes[1] != hashes[2]


def test_bands_follow_the_threshold() -> None:
    bands, rows = lsh_bands(0.8, 128)
    assert bands * rows <= 128
    # The S-curve's steepest point (1/b)^(1/r) sits near the threshold.
    assert 0.7 <= (1 / bands) ** (1 / rows) <= 0.9
    low_bands, low_rows = lsh_bands(0.5, 128)
    assert (1 / low_bands) ** (1 / low_rows) < (1 / bands) ** (1 / rows)


def test_signatures_are_stable_across_calls() -> None:
    texts, _ = planted_corpus(seed=3)
    a = signatures(texts[:200])
    b = signatures(texts[:200])
    assert np.array_equal(a, b)


def test_a_corpus_read_from_shards_in_blocks_gives_the_in_memory_result(
        tmp_path, monkeypatch) -> None:
    """The streaming finder over uneven parquet shards, with blocks that straddle them, finds
    exactly the pairs, clusters and similarities of the in-memory finder."""
    texts, truth = planted_corpus(seed=5)
    expected = find_near_duplicates(texts)
    monkeypatch.setattr(near_duplicates, "BLOCK_STORIES", 257)
    cuts = [0, 400, 1111, len(texts)]
    paths = []
    for n, (a, b) in enumerate(zip(cuts, cuts[1:], strict=False)):
        path = tmp_path / f"part-{n}.parquet"
        pl.DataFrame({"prompt_id": [f"p{i}" for i in range(a, b)],
                      "story": texts[a:b]}).write_parquet(path, row_group_size=300)
        paths.append(path)
    corpus = Corpus("generated", {"generated": paths})
    streamed = find_near_duplicates_in_batches(lambda: corpus.story_arrays(batch_rows=100))
    listed = find_near_duplicates_in_batches(lambda: corpus.story_texts(batch_rows=70))
    assert listed.clusters == expected.clusters
    assert streamed.stories == len(texts)
    assert np.array_equal(streamed.pairs, expected.pairs)
    assert np.array_equal(streamed.similarity, expected.similarity)
    assert streamed.clusters == expected.clusters
    assert streamed.similarity_to_first() == expected.similarity_to_first()
    assert {tuple(p) for p in streamed.pairs.tolist()} & truth
    first = min(expected.clusters)
    assert streamed.snippets[first] == texts[first][:near_duplicates.SNIPPET_CHARS]


def test_the_b_bit_estimate_tracks_the_exact_similarity() -> None:
    """The pre-filter's estimate from one byte of each MinHash value is within 0.15 of the
    exact Jaccard similarity for near-copies and unrelated stories alike."""
    texts, truth = planted_corpus(seed=4)
    sigs = signatures(texts)
    low = (sigs & np.uint32(255)).astype(np.uint8)
    near = np.array(sorted(truth))
    unrelated = np.array([(i, i + 1) for i in range(0, 400, 2)])
    for pairs in (near, unrelated):
        estimate = near_duplicates.estimated_similarity(low, pairs)
        exact = np.array([jaccard(texts[i], texts[j]) for i, j in pairs.tolist()])
        assert np.abs(estimate - exact).max() < 0.15
    assert near_duplicates.estimated_similarity(low, near).min() >= 0.8 - \
        near_duplicates.PREFILTER_MARGIN
