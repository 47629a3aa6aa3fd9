"""The one tokenizer interface every backend implements, and the story framing they share.

Framing is the platform's, not the backend's: every story becomes exactly
`<bos> story-ids <eos>`. Backends encode *without* adding special tokens of their own, so a
tokenizer that would prepend its own bos (SUTRA, Llama-style models) cannot double it.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np


class TokenizerUnavailable(RuntimeError):
    """A tokenizer cannot be loaded here (no network, no local copy); the message says the fix."""


class Tokenizer(ABC):
    """A tokenizer as the platform uses it: batch encode, decode, bos/eos, vocabulary size."""

    #: Backend kind: spm, byte, gpt2 or hf.
    kind: str = ""
    #: Whether a space-separated word always encodes the same way in context and alone
    #: (see `word_cache.py`); backends whose pre-tokenization guarantees it set this.
    word_cacheable: bool = False
    #: For word-cacheable backends: whether a word is encoded with its leading space.
    word_cache_space_prefix: bool = False

    @property
    @abstractmethod
    def name(self) -> str:
        """Human-readable name, e.g. `sentencepiece-unigram-8000`."""

    @property
    @abstractmethod
    def version(self) -> str:
        """Identifies the exact vocabulary (a content hash), so bins can be traced to it."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids the model's embedding needs (largest id + 1)."""

    @property
    @abstractmethod
    def bos_id(self) -> int:
        """Id put before every story."""

    @property
    @abstractmethod
    def eos_id(self) -> int:
        """Id put after every story."""

    @abstractmethod
    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Ids of each text, without any special tokens (encoded in parallel where possible)."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`; bos/eos and other special ids are dropped."""

    @abstractmethod
    def fallback_mask(self) -> np.ndarray:
        """Boolean array over the vocabulary: True for ids that stand for raw bytes or unknown text.

        This is what "byte-fallback/unknown rate" counts: SentencePiece byte pieces and `<unk>`,
        HF `<0xNN>` pieces and the unknown token, GPT-2 tokens that are not whole UTF-8
        characters, and for the byte tokenizer every non-ASCII byte.
        """

    def encode(self, text: str) -> list[int]:
        """Ids of one text, without special tokens."""
        return self.encode_batch([text])[0]

    def encode_words(self, words: Sequence[str]) -> list[list[int]]:
        """Ids of many short texts (the word cache's new words); batch encoding by default."""
        return self.encode_batch(words)

    def special_ids(self) -> set[int]:
        """Ids that are never part of a story's text."""
        return {self.bos_id, self.eos_id}

    def describe(self) -> dict:
        """What `meta.json` and metadata record about this tokenizer."""
        return {
            "kind": self.kind,
            "name": self.name,
            "version": self.version,
            "vocab_size": self.vocab_size,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
        }


def frame_ids(ids_per_story: Sequence[Sequence[int]], bos: int, eos: int) -> np.ndarray:
    """`<bos> ids <eos>` for every story, concatenated into one int64 array."""
    total = sum(map(len, ids_per_story)) + 2 * len(ids_per_story)
    chained = itertools.chain.from_iterable((bos, *ids, eos) for ids in ids_per_story)
    return np.fromiter(chained, dtype=np.int64, count=total)


def frame_segments(
    values: np.ndarray, lengths: np.ndarray, bos: int, eos: int, dtype: np.dtype | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`<bos> segment <eos>` for the consecutive segments of `values` with these `lengths`.

    Returns the framed array (of `dtype`, default `values.dtype`) and the position of each
    segment's bos in it; its eos is at `bos position + length + 1`.
    """
    starts = np.cumsum(lengths + 2) - (lengths + 2)
    ends = starts + lengths + 1
    framed = np.empty(values.size + 2 * lengths.size, dtype=dtype or values.dtype)
    body = np.ones(framed.size, dtype=bool)
    body[starts] = False
    body[ends] = False
    framed[starts] = bos
    framed[ends] = eos
    framed[body] = values
    return framed, starts


def bins_dtype(vocab_size: int) -> np.dtype:
    """`uint16` when every id fits in it, else `uint32`."""
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)
