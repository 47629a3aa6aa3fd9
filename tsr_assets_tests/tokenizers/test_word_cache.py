"""The word-cache framing gives exactly the ids of encoding every story the plain way."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pytest

from tsr_assets.tokenizers.base import frame_ids
from tsr_assets.tokenizers.byte_tokenizer import ByteTokenizer
from tsr_assets.tokenizers.gpt2_tokenizer import GPT2Tokenizer
from tsr_assets.tokenizers.spm_tokenizer import SentencePieceTokenizer, train_spm
from tsr_assets.tokenizers.word_cache import WordCacheEncoder
from tsr_assets_tests.tokenizers.corpus import LANGUAGES, stories

EDGE_CASES = [
    "",
    "एक",
    "  दो  स्पेस ",
    "पंक्ति\n अगली",
    "अंत \nपंक्ति",
    "इमोजी 😀 और tab\tयहाँ।",
    "अंक 123 और (कोष्ठक), 'उद्धरण' don't",
    "वाक्य।\n\nनया अनुच्छेद। ",
]
#: Every Unicode White_Space character, and a few that only Python calls space.
WHITESPACE = ["\t", "\n", "\v", "\f", "\r", "\x1c", "\x85", "\xa0", "\u1680",
              *map(chr, range(0x2000, 0x200B)), "\u2028", "\u2029", "\u202f", "\u205f", "\u3000"]


@pytest.fixture(scope="module", params=["spm", "gpt2"])
def tokenizer(request):
    if request.param == "gpt2":
        return GPT2Tokenizer()
    return SentencePieceTokenizer(train_spm([s for lang in LANGUAGES for s in stories(lang)],
                                            vocab_size=3000))


@pytest.mark.parametrize("language", LANGUAGES)
def test_cached_framing_equals_plain_framing(tokenizer, language: str) -> None:
    encoder = WordCacheEncoder(tokenizer)
    texts = list(stories(language))
    plain = frame_ids(tokenizer.encode_batch(texts), tokenizer.bos_id, tokenizer.eos_id)
    # Two batches, so the second reuses words cached by the first.
    cached = np.concatenate([encoder.encode_framed(texts[:25]), encoder.encode_framed(texts[25:])])
    np.testing.assert_array_equal(cached, plain)


def test_edge_cases_mixed_with_stories_stay_exact_and_in_order(tokenizer) -> None:
    texts = [*EDGE_CASES[:4], *stories("hindi")[:5], *EDGE_CASES[4:], stories("bengali")[0]]
    plain = frame_ids(tokenizer.encode_batch(texts), tokenizer.bos_id, tokenizer.eos_id)
    np.testing.assert_array_equal(WordCacheEncoder(tokenizer).encode_framed(texts), plain)


def test_any_whitespace_before_a_space_falls_back_exactly(tokenizer) -> None:
    story = stories("hindi")[0]
    texts = [story]
    for char in WHITESPACE:
        texts += [f"शब्द{char} अगला", f"शब्द{char}अगला शब्द", f"अंत{char}", story]
    plain = frame_ids(tokenizer.encode_batch(texts), tokenizer.bos_id, tokenizer.eos_id)
    np.testing.assert_array_equal(WordCacheEncoder(tokenizer).encode_framed(texts), plain)


def test_arrow_input_and_concurrent_callers_give_plain_ids(tokenizer) -> None:
    texts = [s for lang in LANGUAGES for s in stories(lang)] + EDGE_CASES
    batches = [texts[i:i + 7] for i in range(0, len(texts), 7)]
    encoder = WordCacheEncoder(tokenizer)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(
            lambda batch: encoder.encode_framed(pa.array(batch, type=pa.large_string())),
            batches))
    for batch, got in zip(batches, results, strict=True):
        plain = frame_ids(tokenizer.encode_batch(batch), tokenizer.bos_id, tokenizer.eos_id)
        np.testing.assert_array_equal(got, plain)


def _word_keys(texts: list[str]) -> set[str]:
    """What the cache keys a batch by: first words bare, later words with their space."""
    keys: set[str] = set()
    for text in texts:
        first, *rest = text.split(" ")
        keys |= {first, *(" " + w for w in rest)}
    return keys


def test_cache_starts_over_past_its_bound(tokenizer) -> None:
    encoder = WordCacheEncoder(tokenizer, max_words=10)
    texts = list(stories("marathi"))
    for batch in (texts[:10], texts[10:20], texts[20:30]):
        out = encoder.encode_framed(batch)
        # Over the bound after every batch, so each call starts from an empty cache.
        assert encoder.cached_words == len(_word_keys(batch))
        plain = frame_ids(tokenizer.encode_batch(batch), tokenizer.bos_id, tokenizer.eos_id)
        np.testing.assert_array_equal(out, plain)


def test_backends_without_word_structure_are_refused() -> None:
    with pytest.raises(ValueError, match="word by word"):
        WordCacheEncoder(ByteTokenizer())
