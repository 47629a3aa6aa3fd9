"""Fast framing for tokenizers whose encoding of a text is the concatenation of its words'.

SentencePiece (as the platform trains it: identity normalization, whitespace only at the start
of a piece) and GPT-2 (regex pre-tokenization where a space only ever starts a piece) encode a
space-separated word the same way wherever it appears, as long as spaces are single and not
next to other whitespace. For such texts, encoding each *distinct* word once and gathering the
ids with numpy gives exactly the ids of encoding every story, several times faster: stories
repeat their words, and the split, lookup and gather run in polars and numpy, not Python.

Texts that break the precondition (double spaces, a space after a newline, a leading or
trailing space) are encoded the plain way, in order. Tests compare both paths id for id.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from tsr_assets.tokenizers.base import Tokenizer, frame_ids

_UNSAFE_SPACING = r"\s |^ | $"


class WordCacheEncoder:
    """Encodes and frames batches of stories with a cache of word -> ids that lives across batches.

    Memory is bounded by `max_words` distinct words; past it the cache starts over.
    """

    def __init__(self, tokenizer: Tokenizer, max_words: int = 2_000_000) -> None:
        if not tokenizer.word_cacheable:
            raise ValueError(f"{tokenizer.name} does not encode word by word; use frame_ids")
        self.tokenizer = tokenizer
        self.max_words = max_words
        self._reset()

    def _reset(self) -> None:
        self._table = pl.DataFrame(schema={"w": pl.String, "start": pl.Int64, "len": pl.Int64})
        self._ids = np.empty(1 << 16, dtype=np.int64)
        self._used = 0

    def _append_ids(self, flat: np.ndarray) -> int:
        start = self._used
        if start + flat.size > self._ids.size:
            grown = np.empty(max(self._ids.size * 2, start + flat.size), dtype=np.int64)
            grown[:start] = self._ids[:start]
            self._ids = grown
        self._ids[start:start + flat.size] = flat
        self._used += flat.size
        return start

    def encode_framed(self, texts: Sequence[str]) -> np.ndarray:
        """`<bos> ids <eos>` of every text, concatenated (int64), identical to plain encoding."""
        tok = self.tokenizer
        # polars runs the regex in Rust over the whole batch (Python's re costs ~10 us/story).
        unsafe = pl.Series(list(texts), dtype=pl.String).str.contains(_UNSAFE_SPACING)
        safe = (~unsafe).to_list()
        if all(safe):
            return self._encode_safe(texts)
        parts: list[np.ndarray] = []
        start = 0
        while start < len(texts):
            end = start
            while end < len(texts) and safe[end] == safe[start]:
                end += 1
            run = texts[start:end]
            parts.append(self._encode_safe(run) if safe[start]
                         else frame_ids(tok.encode_batch(run), tok.bos_id, tok.eos_id))
            start = end
        return np.concatenate(parts)

    def _encode_safe(self, texts: Sequence[str]) -> np.ndarray:
        tok = self.tokenizer
        if not texts:
            return np.empty(0, dtype=np.int64)
        words_per_text = pl.Series("w", list(texts), dtype=pl.String).str.split(" ")
        counts = words_per_text.list.len().to_numpy().astype(np.int64)
        words = words_per_text.explode()
        first_word = np.concatenate([[0], np.cumsum(counts)[:-1]])
        if tok.word_cache_space_prefix:
            is_first = np.zeros(len(words), dtype=bool)
            is_first[first_word] = True
            words = pl.select(
                pl.when(pl.Series(is_first)).then(words).otherwise(pl.lit(" ") + words)
            ).to_series().alias("w")
        frame = pl.DataFrame({"w": words})
        if self._table.height > self.max_words:
            self._reset()
        new_words = frame.unique().join(self._table, on="w", how="anti")["w"].to_list()
        if new_words:
            ids = tok.encode_words(new_words)
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            flat = np.fromiter((i for word_ids in ids for i in word_ids), dtype=np.int64,
                               count=int(lengths.sum()))
            base = self._append_ids(flat)
            starts = base + np.concatenate([[0], np.cumsum(lengths)[:-1]])
            self._table = pl.concat(
                [self._table, pl.DataFrame({"w": new_words, "start": starts, "len": lengths})]
            )
        looked_up = frame.join(self._table, on="w", how="left", maintain_order="left")
        starts = looked_up["start"].to_numpy()
        lengths = looked_up["len"].to_numpy()
        total = int(lengths.sum())
        # Gather every word's ids in order: position p of word k reads ids[start_k + p].
        offsets = np.cumsum(lengths) - lengths
        tokens = self._ids[np.repeat(starts - offsets, lengths) + np.arange(total)]
        per_text = np.add.reduceat(lengths, first_word)
        out = np.empty(total + 2 * len(texts), dtype=np.int64)
        text_starts = np.cumsum(per_text + 2) - (per_text + 2)
        text_ends = text_starts + 1 + per_text
        body = np.ones(out.size, dtype=bool)
        body[text_starts] = False
        body[text_ends] = False
        out[text_starts] = tok.bos_id
        out[text_ends] = tok.eos_id
        out[body] = tokens
        return out
