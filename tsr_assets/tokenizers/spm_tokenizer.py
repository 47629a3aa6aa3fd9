"""SentencePiece trained per language on the stories' train split.

Trained with identity normalization and no whitespace folding, so decoding gives back exactly
the text that was encoded; with byte fallback, so no character is ever `<unk>`; with the
newline as its own piece, so paragraph breaks survive; and with explicit ids
0 = `<unk>`, 1 = `<s>` (bos), 2 = `</s>` (eos).
"""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import sentencepiece as spm

from tsr_assets.core.atomic_files import write_bytes_atomic
from tsr_assets.tokenizers.base import (
    BuildInputs,
    SpanFramer,
    Tokenizer,
    TokenizerBackend,
)
from tsr_assets.tokenizers.word_cache import WordCacheEncoder

SPM_MODEL_TYPES = ("unigram", "bpe")
SPM_UNK, SPM_BOS, SPM_EOS = 0, 1, 2
# SentencePiece needs room for its special pieces, 256 byte pieces and the characters.
MIN_SPM_VOCAB = 320
#: The model file in a stored tokenizer's folder.
SPM_FILE = "spm.model"


def _paragraphs(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        for paragraph in text.split("\n"):
            if paragraph.strip():
                yield paragraph


def train_spm(
    texts: Iterable[str],
    vocab_size: int = 8192,
    model_type: str = "unigram",
    max_sentences: int = 2_000_000,
    num_threads: int | None = None,
) -> bytes:
    """Train a SentencePiece model on `texts` and return the serialized model.

    `vocab_size` is an upper bound: on a small corpus SentencePiece stops at the number of
    pieces the corpus supports instead of failing. At most `max_sentences` paragraphs (sampled
    by SentencePiece) are used, which bounds memory on large corpora.

    Raises:
        ValueError: for an unknown model type, a vocabulary below 320, or an empty corpus.
    """
    if model_type not in SPM_MODEL_TYPES:
        raise ValueError(f"model_type {model_type!r}: choose one of {', '.join(SPM_MODEL_TYPES)}")
    if vocab_size < MIN_SPM_VOCAB:
        raise ValueError(f"vocab_size {vocab_size}: must be at least {MIN_SPM_VOCAB}")
    paragraphs = _paragraphs(texts)
    first = next(paragraphs, None)
    if first is None:
        raise ValueError("no text to train SentencePiece on: the train split is empty")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=_prepend(first, paragraphs),
        model_writer=model,
        model_type=model_type,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        byte_fallback=True,
        character_coverage=1.0,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        user_defined_symbols=["\n"],
        unk_id=SPM_UNK,
        bos_id=SPM_BOS,
        eos_id=SPM_EOS,
        pad_id=-1,
        max_sentence_length=1 << 16,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        num_threads=num_threads or os.cpu_count() or 1,
        minloglevel=2,
    )
    return model.getvalue()


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


class SentencePieceTokenizer(Tokenizer):
    """A trained SentencePiece model (from a `.model` file or its bytes)."""

    kind = "spm"
    word_cacheable = True
    word_cache_space_prefix = False

    def __init__(
        self,
        model: str | Path | bytes,
        model_type: str = "unigram",
        num_threads: int | None = None,
    ) -> None:
        proto = model if isinstance(model, bytes) else Path(model).read_bytes()
        self._proto = proto
        self._sp = spm.SentencePieceProcessor(model_proto=proto)
        self._threads = num_threads or os.cpu_count() or 1
        self._model_type = model_type
        if self._sp.bos_id() < 0 or self._sp.eos_id() < 0:
            raise ValueError("this SentencePiece model has no bos/eos piece; retrain it")

    @property
    def model_type(self) -> str:
        """unigram or bpe."""
        return self._model_type

    @property
    def name(self) -> str:
        return f"sentencepiece-{self._model_type}-{self.vocab_size}"

    @property
    def version(self) -> str:
        return f"spm-{hashlib.sha256(self._proto).hexdigest()[:16]}"

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    @property
    def bos_id(self) -> int:
        return self._sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self._sp.eos_id()

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._sp.encode(list(texts), num_threads=self._threads)

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([int(i) for i in ids if i not in self.special_ids()])

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """SentencePiece's piece names (`id_to_piece`): `▁` marks a word start, byte
        fallback pieces are `<0xE0>`."""
        return [self._sp.id_to_piece(int(i)) for i in ids]

    def fallback_mask(self) -> np.ndarray:
        return np.array(
            [self._sp.is_byte(i) or self._sp.is_unknown(i) for i in range(self.vocab_size)],
            dtype=bool,
        )

    def span_framer(self) -> SpanFramer:
        """Each distinct word is encoded once and its ids gathered (see `word_cache.py`)."""
        return WordCacheEncoder(self).encode_framed_spans

    def to_transformers(self):
        """The same model in the `tokenizers` library, framed with `<s> ... </s>`."""
        from tsr_assets.tokenizers.hf_export import framed, sentencepiece_fast

        sp = self._sp
        pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
        fast = sentencepiece_fast(pieces, self._model_type, sp.unk_id())
        return framed(fast, sp.id_to_piece(self.bos_id), sp.id_to_piece(self.eos_id),
                      self.bos_id, self.eos_id)

    def model_bytes(self) -> bytes:
        """The serialized model."""
        return self._proto


def _build(inputs: BuildInputs) -> tuple[Tokenizer, str]:
    settings = inputs.settings
    started = time.monotonic()
    proto = train_spm(inputs.train_texts(), settings.vocab_size, settings.model_type,
                      settings.max_train_sentences)
    inputs.log(f"SentencePiece {settings.model_type} trained in "
               f"{time.monotonic() - started:.1f}s")
    return SentencePieceTokenizer(proto, model_type=settings.model_type), "trained on stories"


def _save(tokenizer: Tokenizer, folder: Path) -> dict:
    assert isinstance(tokenizer, SentencePieceTokenizer)
    write_bytes_atomic(folder / SPM_FILE, tokenizer.model_bytes())
    return {"model_type": tokenizer.model_type}


def _load(folder: Path, descriptor: dict) -> Tokenizer:
    return SentencePieceTokenizer(folder / SPM_FILE,
                                  model_type=descriptor.get("model_type", "unigram"))


SPM_BACKEND = TokenizerBackend(
    key="spm", kind=SentencePieceTokenizer.kind,
    summary="SentencePiece (unigram or BPE, byte fallback) trained on the train split",
    build=_build, save=_save, load=_load,
)
