"""Arrow string batches read as numpy bytes: word split, views of sliced arrays, nulls."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tsr_assets.tokenizers.arrow_text import (
    as_large_strings,
    int32_values,
    split_at_spaces,
    utf8_views,
)
from tsr_assets.tokenizers.byte_tokenizer import BYTE_BOS, BYTE_EOS, ByteTokenizer

TEXTS = ["एक दो तीन", "", "x", "  double  and trailing ", "पंक्ति\n अगली", "😀 a"]


def _expected_words(text: str) -> list[str]:
    if not text:
        return []
    first, *rest = text.split(" ")
    words = [first, *(" " + w for w in rest)]
    # A text that starts with a space has no bare first word: its first word is " ...".
    return words[1:] if first == "" else words


@pytest.mark.parametrize("sliced", [False, True])
def test_words_tile_every_text_with_their_leading_space(sliced: bool) -> None:
    array = pa.array(["padding before", *TEXTS, "padding after"], type=pa.large_string())
    texts = array.slice(1, len(TEXTS)) if sliced else pa.array(TEXTS, type=pa.large_string())
    words, per_text = split_at_spaces(texts)
    expected = [_expected_words(t) for t in TEXTS]
    assert per_text.tolist() == [len(w) for w in expected]
    assert words.to_pylist() == [w for ws in expected for w in ws]
    assert "".join(words.to_pylist()) == "".join(TEXTS)


def test_views_follow_the_slice_and_the_types_are_normalized() -> None:
    array = pa.array(["ab", "कहानी", "c"], type=pa.string()).slice(1, 2)
    texts = as_large_strings(array)
    assert texts.type == pa.large_string() and texts.to_pylist() == ["कहानी", "c"]
    offsets, data = utf8_views(texts)
    assert bytes(data[offsets[0]:offsets[-1]]) == "कहानीc".encode()
    assert as_large_strings(["a", "b"]).to_pylist() == ["a", "b"]
    assert as_large_strings(pa.chunked_array([["a"], ["b"]])).to_pylist() == ["a", "b"]
    indices = pa.array([7, 8, 9], type=pa.int32()).slice(1)
    assert int32_values(indices).tolist() == [8, 9]


def test_null_stories_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="1 of 2 stories are null.*re-materialize `stories`"):
        as_large_strings(pa.array(["a", None]))


def test_byte_framing_of_a_sliced_array_matches_plain_bytes() -> None:
    texts = pa.array(["skip", *TEXTS], type=pa.large_string()).slice(1)
    framed = ByteTokenizer().encode_framed(texts)
    expected = [i for t in TEXTS for i in (BYTE_BOS, *t.encode(), BYTE_EOS)]
    assert framed.dtype == np.uint16 and framed.tolist() == expected
