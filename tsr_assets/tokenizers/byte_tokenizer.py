"""UTF-8 bytes as tokens: ids 0-255 are the bytes, 256 is bos and 257 is eos."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from tsr_assets.tokenizers.arrow_text import as_large_strings, utf8_views
from tsr_assets.tokenizers.base import (
    BuildInputs,
    SpanFramer,
    Tokenizer,
    TokenizerBackend,
    frame_segments,
)
from tsr_assets.tokenizers.byte_level import byte_level_names

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

    def span_framer(self) -> SpanFramer:
        """Bytes need no encoder: the framing is a copy of the texts' UTF-8 buffer."""
        return self.encode_framed_spans

    def to_transformers(self):
        """UTF-8 bytes in the `tokenizers` library, framed with `<bos> ... <eos>`."""
        from tsr_assets.tokenizers.hf_export import byte_fast, framed

        return framed(byte_fast("<bos>", "<eos>"), "<bos>", "<eos>", BYTE_BOS, BYTE_EOS)

    def encode_framed(self, texts: pa.Array | Sequence[str]) -> np.ndarray:
        """`<bos> bytes <eos>` per text (uint16), copied straight from the texts' UTF-8 buffer."""
        return self.encode_framed_spans(texts)[0]

    def encode_framed_spans(self, texts: pa.Array | Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`encode_framed`, and how many ids (bos and eos included) each text has there."""
        offsets, data = utf8_views(as_large_strings(texts))
        lengths = np.diff(offsets)
        framed, _ = frame_segments(data[int(offsets[0]):int(offsets[-1])], lengths,
                                   BYTE_BOS, BYTE_EOS, dtype=np.dtype(np.uint16))
        return framed, lengths + 2

    def decode(self, ids: Sequence[int]) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def pieces(self, ids: Sequence[int]) -> list[str]:
        """Each byte by its name in the byte-level alphabet of this tokenizer's `transformers`
        export (GPT-2's: printable ASCII as itself, a space as `Ġ`, other bytes as stand-in
        characters such as `à` for E0); bos and eos as `<bos>` and `<eos>`."""
        names = byte_level_names()
        return [names[i] if i < 256 else ("<bos>" if i == BYTE_BOS else "<eos>")
                for i in map(int, ids)]

    def fallback_mask(self) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        mask[128:256] = True
        return mask


def _build(inputs: BuildInputs) -> tuple[Tokenizer, str]:
    return ByteTokenizer(), "utf-8"


BYTE_BACKEND = TokenizerBackend(
    key="byte", kind=ByteTokenizer.kind, summary="UTF-8 bytes (bos 256, eos 257)",
    build=_build, save=lambda tokenizer, folder: {},
    load=lambda folder, descriptor: ByteTokenizer(),
)
