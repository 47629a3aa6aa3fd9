"""Tokenizer statistics on hand-computable inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.token_bins import framer_for
from tsr_assets.tokenizers.tokenizer_stats import compute_tokenizer_stats, renyi_entropy


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
