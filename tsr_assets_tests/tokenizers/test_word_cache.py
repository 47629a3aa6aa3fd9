"""The word-cache framing gives exactly the ids of encoding every story the plain way."""

from __future__ import annotations

import numpy as np
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


def test_cache_starts_over_past_its_bound(tokenizer) -> None:
    encoder = WordCacheEncoder(tokenizer, max_words=10)
    texts = list(stories("marathi")[:20])
    for _ in range(3):
        out = encoder.encode_framed(texts)
    assert encoder._table.height < 10 + len({w for t in texts for w in t.split(" ")}) + 1  # noqa: SLF001
    plain = frame_ids(tokenizer.encode_batch(texts), tokenizer.bos_id, tokenizer.eos_id)
    np.testing.assert_array_equal(out, plain)


def test_backends_without_word_structure_are_refused() -> None:
    with pytest.raises(ValueError, match="word by word"):
        WordCacheEncoder(ByteTokenizer())
