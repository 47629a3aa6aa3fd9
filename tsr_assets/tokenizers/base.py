"""The one tokenizer interface every backend implements, the story framing they share, and
what a backend declares to the registry (`TokenizerBackend`).

Framing is the platform's, not the backend's: every story becomes exactly
`<bos> story-ids <eos>`. Backends encode *without* adding special tokens of their own, so a
tokenizer that would prepend its own bos (SUTRA, Llama-style models) cannot double it.
"""

from __future__ import annotations

import itertools
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tsr_assets.tokenizers.arrow_text import as_large_strings

#: Frames a batch of texts (an Arrow string array or a list of strings): returns
#: `<bos> ids <eos>` of every text concatenated, and each text's id count incl. bos and eos.
SpanFramer = Callable[[pa.Array | Sequence[str]], tuple[np.ndarray, np.ndarray]]


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

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """The pieces of `ids` as the tokenizer names them, one string per id.

        What `transformers`' `convert_ids_to_tokens` gives: SentencePiece pieces with their
        `▁` (byte pieces as `<0xE0>`), GPT-2 byte-level strings with `Ġ` for a space. The
        original study's MorphScore joins these names. Backends override it; by default
        (a backend that names no pieces) each id is decoded alone.
        """
        return [self.decode([int(i)]) for i in ids]

    def encode(self, text: str) -> list[int]:
        """Ids of one text, without special tokens."""
        return self.encode_batch([text])[0]

    def encode_words(self, words: Sequence[str]) -> list[list[int]]:
        """Ids of many short texts (the word cache's new words); batch encoding by default."""
        return self.encode_batch(words)

    def span_framer(self) -> SpanFramer:
        """The fastest exact way to frame a batch with this tokenizer; safe to call from
        several threads at once. By default: `encode_batch`, one call at a time."""
        return locked_batch_framer(self)

    def to_transformers(self):
        """This tokenizer as a `transformers.PreTrainedTokenizerFast` giving the same ids, with
        `<bos> ... <eos>` framing as its special-token template (see `hf_export.py`)."""
        raise NotImplementedError(f"the {self.kind!r} tokenizer has no transformers export")

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


def locked_batch_framer(tokenizer: Tokenizer) -> SpanFramer:
    """A framer that batch-encodes under a lock.

    Hugging Face fast tokenizers may reconfigure themselves per call and are not safe to call
    from two threads at once; they batch-encode on their own threads anyway.
    """
    one_at_a_time = threading.Lock()

    def frame(texts: pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        texts = as_large_strings(texts).to_pylist() if isinstance(texts, pa.Array) else texts
        with one_at_a_time:
            ids = tokenizer.encode_batch(texts)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids)) + 2
        return frame_ids(ids, tokenizer.bos_id, tokenizer.eos_id), lengths

    return frame


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


@dataclass(frozen=True)
class TokenizerSettings:
    """How a tokenizer partition is built (the `tokenizer` asset's run config)."""

    vocab_size: int = 8192
    model_type: str = "unigram"
    max_train_sentences: int = 2_000_000
    #: Train a tokenizer on a seeded sample of about this many train stories at most
    #: (SentencePiece's memory grows with its input).
    max_train_stories: int = 100_000
    sample_seed: int = 0
    local_path: str | None = None


@dataclass(frozen=True)
class BuildInputs:
    """What a backend may use to build its tokenizer for one language."""

    key: str
    #: The train split's stories, read only when called (backends that need no training
    #: never read the corpus).
    train_texts: Callable[[], Iterator[str]]
    settings: TokenizerSettings = TokenizerSettings()
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class TokenizerBackend:
    """One tokenizer partition as the registry knows it.

    Attributes:
        key: the partition key (`spm`, `sarvam`, ...).
        kind: the `Tokenizer.kind` it builds; stored in the descriptor and used to load.
        summary: one line for the UI and the README.
        build: makes the tokenizer; returns it and a description of its source.
        save: writes the tokenizer's own files into a folder; returns extra descriptor fields.
        load: reads it back from that folder and its descriptor.
        offline: True when it builds on a machine without network.
    """

    key: str
    kind: str
    summary: str
    build: Callable[[BuildInputs], tuple[Tokenizer, str]]
    save: Callable[[Tokenizer, Path], dict]
    load: Callable[[Path, dict], Tokenizer]
    offline: bool = True
