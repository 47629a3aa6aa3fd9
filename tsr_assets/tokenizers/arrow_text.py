"""Batches of stories as Arrow string arrays, read through numpy views of their UTF-8 bytes.

The bins pipeline never turns a story into a Python string: parquet hands it an Arrow array,
and the word split and byte framing work on the array's offsets and byte buffer directly
(zero-copy), so their cost is a few numpy passes per batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

SPACE = 0x20


def as_large_strings(texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> pa.LargeStringArray:
    """`texts` as one `large_string` array (a copy only when the type or chunking differs).

    Raises:
        ValueError: when a text is null.
    """
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if not isinstance(texts, pa.Array):
        texts = pa.array(list(texts), type=pa.large_string())
    if texts.null_count:
        raise ValueError(f"{texts.null_count} of {len(texts)} stories are null; "
                         "re-materialize `stories` to drop them")
    if texts.type != pa.large_string():
        texts = texts.cast(pa.large_string())
    return texts


def utf8_views(texts: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, data): text i is `data[offsets[i]:offsets[i + 1]]`; both views, not copies."""
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        texts.offset: texts.offset + len(texts) + 1
    ]
    if data_buffer is None or data_buffer.size == 0:
        return offsets, np.zeros(0, dtype=np.uint8)
    return offsets, np.frombuffer(data_buffer, dtype=np.uint8)


def int32_values(array: pa.Array) -> np.ndarray:
    """The values of a null-free int32 array as a numpy view."""
    values = np.frombuffer(array.buffers()[1], dtype=np.int32)
    return values[array.offset: array.offset + len(array)]


def split_at_spaces(texts: pa.LargeStringArray) -> tuple[pa.LargeStringArray, np.ndarray]:
    """The words of every text, in order, and how many each text has.

    A text's first word is cut as is; every later word keeps the single space before it
    (`"a b c"` -> `"a"`, `" b"`, `" c"`). The words tile the texts exactly (the words array
    shares the texts' byte buffer), and an empty text has no words.
    """
    offsets, data = utf8_views(texts)
    begin, end = int(offsets[0]), int(offsets[-1])
    boundary = data[begin:end] == SPACE
    starts = offsets[:-1]
    boundary[starts[starts < end] - begin] = True
    word_starts = np.flatnonzero(boundary) + begin
    word_offsets = np.append(word_starts, end).astype(np.int64, copy=False)
    data_buffer = texts.buffers()[2] or pa.py_buffer(b"")
    words = pa.LargeStringArray.from_buffers(len(word_starts), pa.py_buffer(word_offsets),
                                             data_buffer)
    per_text = (np.searchsorted(word_starts, offsets[1:])
                - np.searchsorted(word_starts, offsets[:-1]))
    return words, per_text
