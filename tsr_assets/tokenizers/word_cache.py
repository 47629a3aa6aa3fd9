"""Fast framing for tokenizers whose encoding of a text is the concatenation of its words'.

SentencePiece (as the platform trains it: identity normalization, whitespace only at the start
of a piece) and GPT-2 (regex pre-tokenization where a space only ever starts a piece) encode a
space-separated word the same way wherever it appears, as long as spaces are single and not
next to other whitespace. For such texts, encoding each *distinct* word once and gathering the
cached ids gives exactly the ids of encoding every story: stories repeat their words, and
the split (`arrow_text.split_at_spaces`), the per-batch dictionary (Arrow's
`dictionary_encode`) and the gather run in Arrow and numpy, never one Python object per word.

Texts that break the precondition (double spaces, a space after a newline, a leading or
trailing space) are re-encoded the plain way and put back in their place. Tests compare both
paths id for id. The encoder is safe to call from several threads at once: only the cache
update is locked, and the gather is Arrow's `take` on a list array, which runs off the GIL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tsr_assets.tokenizers.arrow_text import (
    SPACE,
    as_large_strings,
    int32_values,
    split_at_spaces,
    utf8_views,
)
from tsr_assets.tokenizers.base import Tokenizer, frame_segments

#: Word numbers 0 and 1 of every cache stand for the bos and eos marks.
_BOS_WORD, _EOS_WORD = 0, 1


class _IdTable:
    """Word number -> ids: word k's ids are `ids[offsets[k]:offsets[k + 1]]`; grows by copying.

    A `snapshot()` stays valid after later additions: they only write past what it covers,
    and growing replaces the arrays instead of changing them.
    """

    def __init__(self, bos: int, eos: int) -> None:
        self.words = 2
        self.offsets = np.zeros(1 << 12, dtype=np.int32)
        self.offsets[:3] = (0, 1, 2)
        self.ids = np.zeros(1 << 14, dtype=np.int32)
        self.ids[:2] = (bos, eos)

    def add(self, ids_per_word: Sequence[Sequence[int]]) -> None:
        lengths = np.fromiter(map(len, ids_per_word), dtype=np.int32, count=len(ids_per_word))
        flat = np.fromiter((i for ids in ids_per_word for i in ids), dtype=np.int32,
                           count=int(lengths.sum()))
        used = int(self.offsets[self.words])
        words = self.words + lengths.size
        if words + 1 > self.offsets.size:
            self.offsets = np.resize(self.offsets, max(2 * self.offsets.size, words + 1))
        if used + flat.size > self.ids.size:
            self.ids = np.resize(self.ids, max(2 * self.ids.size, used + flat.size))
        self.offsets[self.words + 1:words + 1] = used + np.cumsum(lengths)
        self.ids[used:used + flat.size] = flat
        self.words = words

    def snapshot(self) -> pa.ListArray:
        """The table as an Arrow list array (zero-copy), ready for `take`."""
        offsets = self.offsets[:self.words + 1]
        return pa.ListArray.from_arrays(pa.array(offsets), pa.array(self.ids[:offsets[-1]]))


class WordCacheEncoder:
    """Encodes and frames batches of stories with a cache of word -> ids that lives across batches.

    Memory is bounded by `max_words` distinct words; past it the cache starts over.
    """

    def __init__(self, tokenizer: Tokenizer, max_words: int = 1_000_000) -> None:
        if not tokenizer.word_cacheable:
            raise ValueError(f"{tokenizer.name} does not encode word by word; use frame_ids")
        self.tokenizer = tokenizer
        self.max_words = max_words
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._numbers: dict[str, int] = {}
        self._table = _IdTable(self.tokenizer.bos_id, self.tokenizer.eos_id)

    @property
    def cached_words(self) -> int:
        """How many distinct words the cache holds now."""
        return len(self._numbers)

    def encode_framed(self, texts: pa.Array | Sequence[str]) -> np.ndarray:
        """`<bos> ids <eos>` of every text, concatenated (int32), identical to plain encoding."""
        return self.encode_framed_spans(texts)[0]

    def encode_framed_spans(self, texts: pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`encode_framed`, and how many ids (bos and eos included) each text has there."""
        texts = as_large_strings(texts)
        if len(texts) == 0:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
        words, per_text = split_at_spaces(texts)
        encoded = pc.dictionary_encode(words)
        dictionary = encoded.dictionary.to_pylist()
        numbers, table = self._numbers_of(dictionary)
        # Word numbers in story order with the bos and eos words around every story.
        word_indices = int32_values(encoded.indices)
        framed, text_starts = frame_segments(numbers[word_indices], per_text,
                                             _BOS_WORD, _EOS_WORD)
        text_ends = text_starts + per_text + 1
        # Arrow's take on the list table copies every word's ids in order, off the GIL.
        gathered = table.take(pa.array(framed))
        out = int32_values(gathered.flatten())
        token_offsets = int32_values(gathered.offsets)
        token_starts, token_ends = token_offsets[text_starts], token_offsets[text_ends + 1]
        lengths = (token_ends - token_starts).astype(np.int64)
        unsafe = self._unsafe_texts(texts, dictionary, word_indices, per_text)
        if not unsafe.size:
            return out, lengths
        # Re-encode the texts that break the precondition the plain way, in place.
        tok = self.tokenizer
        plain = tok.encode_batch(texts.take(pa.array(unsafe)).to_pylist())
        parts, done = [], 0
        for text, ids_of_text in zip(unsafe, plain, strict=True):
            parts += [out[done:token_starts[text]],
                      np.array([tok.bos_id, *ids_of_text, tok.eos_id], dtype=np.int32)]
            done = token_ends[text]
            lengths[text] = len(ids_of_text) + 2
        parts.append(out[done:])
        return np.concatenate(parts), lengths

    @staticmethod
    def _unsafe_texts(
        texts: pa.LargeStringArray, dictionary: list[str], word_indices: np.ndarray,
        per_text: np.ndarray,
    ) -> np.ndarray:
        """Indices of the texts with a space at the start, at the end or after whitespace.

        A space after whitespace means a word that is not its text's last ends with
        whitespace (`str.isspace`, a superset of what the tokenizers' regexes call space).
        """
        offsets, data = utf8_views(texts)
        nonempty = np.flatnonzero(offsets[:-1] < offsets[1:])
        unsafe = np.zeros(len(texts), dtype=bool)
        unsafe[nonempty] = ((data[offsets[:-1][nonempty]] == SPACE)
                            | (data[offsets[1:][nonempty] - 1] == SPACE))
        spacey = [i for i, word in enumerate(dictionary) if word[-1:].isspace()]
        if spacey:
            at = np.flatnonzero(np.isin(word_indices, spacey))
            words_through = np.cumsum(per_text)
            text_of = np.searchsorted(words_through, at, side="right")
            unsafe[text_of[at != words_through[text_of] - 1]] = True
        return np.flatnonzero(unsafe)

    def _numbers_of(self, words: list[str]) -> tuple[np.ndarray, pa.ListArray]:
        """The cache's number of each word (encoding new ones) and a snapshot of its table."""
        with self._lock:
            if len(self._numbers) > self.max_words:
                self._reset()
            numbers = self._numbers
            new = [w for w in words if w not in numbers]
            if new:
                strip = not self.tokenizer.word_cache_space_prefix
                self._table.add(self.tokenizer.encode_words(
                    [w[1:] if strip and w[:1] == " " else w for w in new]))
                first = len(numbers) + 2
                numbers.update(zip(new, range(first, first + len(new)), strict=True))
            found = np.fromiter(map(numbers.__getitem__, words), dtype=np.int32, count=len(words))
            return found, self._table.snapshot()
