"""A toy tokenizer backend written the way a user adds one: this module and one
`register_tokenizer(TOY_BACKEND)` call. One id per distinct character of the train split."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tsr_assets.tokenizers.base import BuildInputs, Tokenizer, TokenizerBackend

BOS, EOS, UNKNOWN = 0, 1, 2
CHARS_FILE = "chars.json"


class CharTokenizer(Tokenizer):
    """Characters seen in training get ids from 3 on; anything else is `UNKNOWN`."""

    kind = "toy_chars"

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = list(chars)
        self._ids = {c: i + 3 for i, c in enumerate(self.chars)}

    @property
    def name(self) -> str:
        return f"toy-chars-{len(self.chars)}"

    @property
    def version(self) -> str:
        return "toy-" + hashlib.sha256("".join(self.chars).encode()).hexdigest()[:12]

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 3

    @property
    def bos_id(self) -> int:
        return BOS

    @property
    def eos_id(self) -> int:
        return EOS

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [[self._ids.get(c, UNKNOWN) for c in text] for text in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i - 3] for i in ids if i >= 3)

    def fallback_mask(self) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[UNKNOWN] = True
        return mask


def _build(inputs: BuildInputs) -> tuple[Tokenizer, str]:
    chars = sorted({c for text in inputs.train_texts() for c in text})
    if not chars:
        raise ValueError("no text to learn characters from")
    return CharTokenizer(chars), "characters of the train split"


def _save(tokenizer: Tokenizer, folder: Path) -> dict:
    (folder / CHARS_FILE).write_text(json.dumps(tokenizer.chars, ensure_ascii=False))
    return {}


def _load(folder: Path, descriptor: dict) -> Tokenizer:
    return CharTokenizer(json.loads((folder / CHARS_FILE).read_text()))


TOY_BACKEND = TokenizerBackend(key="toy", kind=CharTokenizer.kind, summary="toy characters",
                               build=_build, save=_save, load=_load)
