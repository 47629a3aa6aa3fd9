"""Tokenizer statistics on hand-computable inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.token_bins import framer_for
from tsr_assets.tokenizers.tokenizer_stats import (
    compute_tokenizer_stats,
    published_renyi,
    renyi_entropy,
    renyi_entropy_nats,
    text_token_counts,
)


def test_renyi_entropy_of_known_distributions() -> None:
    assert renyi_entropy(np.array([5, 5, 5, 5, 0])) == pytest.approx(2.0)  # uniform over 4
    assert renyi_entropy(np.array([7, 0, 0])) == pytest.approx(0.0)
    p = np.array([0.5, 0.25, 0.25])
    expected = math.log2((p**2.5).sum()) / (1 - 2.5)
    assert renyi_entropy(np.array([2, 1, 1])) == pytest.approx(expected)


def test_byte_tokenizer_stats_by_hand() -> None:
    tok = ByteTokenizer()
    texts = ["ab cd", "aé"]  # 5 + 3 bytes, 3 words, 7 characters
    stats = compute_tokenizer_stats(tok, texts, framer_for(tok)(texts))
    assert stats["tokens"] == 8 and stats["words"] == 3
    assert stats["fertility"] == pytest.approx(8 / 3)
    assert stats["chars_per_token"] == pytest.approx(7 / 8)
    assert stats["bytes_per_token"] == pytest.approx(1.0)
    assert stats["fallback_rate"] == pytest.approx(2 / 8)  # the two bytes of é
    assert stats["vocab_used"] == 7  # a, b, space, c, d, 0xC3, 0xA9
    assert stats["single_token_word_share"] == 0.0  # every word needs its space and its bytes
    counts = np.zeros(258)
    for b in b"ab cd" + "aé".encode():
        counts[b] += 1
    assert stats["renyi_entropy_bits"] == pytest.approx(renyi_entropy(counts))
    assert stats["renyi_efficiency"] == pytest.approx(renyi_entropy(counts) / math.log2(258))
    assert stats["log_base"] == "2" and stats["renyi_alpha"] == 2.5


def test_gpt2_single_token_words_counted_in_context() -> None:
    tok = GPT2Tokenizer()
    texts = ["the cat sat on the mat"]
    stats = compute_tokenizer_stats(tok, texts, framer_for(tok)(texts))
    assert stats["single_token_word_share"] == 1.0 and stats["fertility"] == 1.0
    hindi = ["नमस्ते दुनिया"]
    assert compute_tokenizer_stats(tok, hindi, framer_for(tok)(hindi))[
        "single_token_word_share"] == 0.0


def test_ids_without_framing_are_rejected() -> None:
    tok = ByteTokenizer()
    with pytest.raises(ValueError, match="one bos and one eos"):
        compute_tokenizer_stats(tok, ["ab", "cd"], np.array([256, 97, 98, 257]))
    with pytest.raises(ValueError, match="no val stories"):
        compute_tokenizer_stats(tok, [], np.array([], dtype=np.int64))


def test_renyi_in_nats_as_published_by_hand() -> None:
    counts = np.array([2, 1, 1, 0])  # p = 1/2, 1/4, 1/4
    # Shannon: -(1/2 ln 1/2 + 2 * 1/4 ln 1/4) = 1.5 ln 2
    assert renyi_entropy_nats(counts, 1.0) == pytest.approx(1.5 * math.log(2))
    # alpha 2: -ln(1/4 + 1/16 + 1/16) = ln(8/3)
    assert renyi_entropy_nats(counts, 2.0) == pytest.approx(math.log(8 / 3))
    # alpha 2.5: ln(sum p^2.5) / (1 - 2.5)
    expected = math.log(0.5**2.5 + 2 * 0.25**2.5) / -1.5
    assert renyi_entropy_nats(counts, 2.5) == pytest.approx(expected)
    # alpha 0.5: 2 ln(sum sqrt p) = 2 ln(sqrt(1/2) + 1)
    assert renyi_entropy_nats(counts, 0.5) == pytest.approx(2 * math.log(math.sqrt(0.5) + 1))
    # nats are bits times ln 2
    assert renyi_entropy_nats(counts, 2.5) == pytest.approx(renyi_entropy(counts) * math.log(2))
    assert set(published_renyi(counts)) == {"renyi_nats_0_5", "renyi_nats_1", "renyi_nats_2",
                                            "renyi_nats_2_5"}


def test_text_token_counts_drop_one_bos_and_eos_per_story_over_all_splits() -> None:
    train, val = np.array([0, 5, 6, 1, 0, 5, 1]), np.array([0, 7, 1])
    counts = text_token_counts([train, val], stories=3, vocab=8, bos=0, eos=1)
    assert counts.tolist() == [0, 0, 0, 0, 0, 2, 1, 1]
    with pytest.raises(ValueError, match="one bos and one eos per story"):
        text_token_counts([val], stories=2, vocab=8, bos=0, eos=1)
