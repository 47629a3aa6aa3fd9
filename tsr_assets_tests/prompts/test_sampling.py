"""Sampling without replacement, determinism, prefix stability and prompt ids."""

from __future__ import annotations

import numpy as np
import pytest

from tsr_assets.prompts.sampling import (
    decode_combinations,
    hex_ids,
    permuted_indices,
    prompt_id,
)


@pytest.mark.parametrize("total", [1, 2, 3, 5, 16, 17, 1000, 4097])
def test_full_sample_is_a_permutation(total: int) -> None:
    values = permuted_indices(0, total, total, seed=11)
    assert sorted(values.tolist()) == list(range(total))


def test_sample_is_unique_in_range_and_deterministic() -> None:
    total = 150 * 150 * 150 * 15
    a = permuted_indices(0, 200_000, total, seed=7)
    assert len(np.unique(a)) == a.size
    assert int(a.max()) < total
    assert np.array_equal(a, permuted_indices(0, 200_000, total, seed=7))
    assert not np.array_equal(a[:100], permuted_indices(0, 100, total, seed=8))


def test_prefix_stability_and_chunking() -> None:
    total = 50_000
    whole = permuted_indices(0, 5_000, total, seed=3)
    assert np.array_equal(permuted_indices(0, 1_000, total, seed=3), whole[:1_000])
    assert np.array_equal(permuted_indices(1_000, 4_000, total, seed=3), whole[1_000:])


def test_sample_is_spread_over_the_space() -> None:
    # Not sorted or clustered: a 10k sample of 1M covers all ten deciles roughly evenly.
    values = permuted_indices(0, 10_000, 1_000_000, seed=0)
    counts = np.bincount((values // 100_000).astype(int), minlength=10)
    assert counts.min() > 800 and counts.max() < 1200


def test_out_of_range_requests_fail() -> None:
    with pytest.raises(ValueError):
        permuted_indices(0, 11, 10, seed=0)
    with pytest.raises(ValueError):
        permuted_indices(0, 1, 0, seed=0)


def test_decode_is_mixed_radix() -> None:
    sizes = [3, 4, 5, 2]
    idx = np.arange(3 * 4 * 5 * 2, dtype=np.uint64)
    a, b, c, d = decode_combinations(idx, sizes)
    rebuilt = ((a * 4 + b) * 5 + c) * 2 + d
    assert np.array_equal(rebuilt, idx.astype(np.int64))


def test_prompt_id_depends_on_words_and_roles_not_positions() -> None:
    base = prompt_id("घर", "खेलना", "लाल", "खुशहाल अंत")
    assert len(base) == 16 and int(base, 16) >= 0
    assert base == prompt_id("घर", "खेलना", "लाल", "खुशहाल अंत")
    # Index concatenation would collide on (1, 23) vs (12, 3); words in roles do not.
    assert prompt_id("1", "23", "x", "y") != prompt_id("12", "3", "x", "y")
    assert prompt_id("a", "b", "c", "d") != prompt_id("b", "a", "c", "d")


def test_hex_ids_match_python_formatting() -> None:
    ids = np.array([0, 1, 2**64 - 1, 0x0123456789ABCDEF], dtype=np.uint64)
    assert [h.decode() for h in hex_ids(ids)] == [f"{int(i):016x}" for i in ids]
