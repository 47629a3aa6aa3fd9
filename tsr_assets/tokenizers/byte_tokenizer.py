"""UTF-8 bytes as tokens: ids 0-255 are the bytes, 256 is bos and 257 is eos."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsr_assets.tokenizers.base import Tokenizer

BYTE_BOS = 256
BYTE_EOS = 257


class ByteTokenizer(Tokenizer):
    """Every UTF-8 byte is a token; needs no training and no files."""

    kind = "byte"

    @property
    def name(self) -> str:
        return "utf8-bytes"

    @property
    def version(self) -> str:
        return "utf8-bytes-v1"

    @property
    def vocab_size(self) -> int:
        return 258

    @property
    def bos_id(self) -> int:
        return BYTE_BOS

    @property
    def eos_id(self) -> int:
        return BYTE_EOS

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return [list(text.encode("utf-8")) for text in texts]

    def encode_framed(self, texts: Sequence[str]) -> np.ndarray:
        """`<bos> bytes <eos>` per text, built with numpy instead of Python lists."""
        parts: list[np.ndarray] = []
        bos = np.array([BYTE_BOS], dtype=np.uint16)
        eos = np.array([BYTE_EOS], dtype=np.uint16)
        for text in texts:
            parts += [bos, np.frombuffer(text.encode("utf-8"), dtype=np.uint8), eos]
        if not parts:
            return np.empty(0, dtype=np.int64)
        return np.concatenate(parts, dtype=np.uint16).astype(np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def fallback_mask(self) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[128:256] = True
        return mask
