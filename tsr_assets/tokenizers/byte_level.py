"""GPT-2's byte-level names: the printable character each byte is written as in a byte-level
BPE vocabulary (`Ġ` for a space, `à¤` for the bytes E0 A4 that start most Devanagari
letters), so a token's name is the names of its bytes joined.

This is how `transformers`' `GPT2Tokenizer.convert_ids_to_tokens` names tokens, and how the
platform's own `transformers` exports of the GPT-2 and byte tokenizers name theirs.
"""

from __future__ import annotations

import functools


@functools.cache
def byte_level_names() -> tuple[str, ...]:
    """The name of each byte 0-255.

    Bytes that are printable Latin-1 characters other than the space and the soft hyphen
    (`!`-`~`, `¡`-`¬`, `®`-`ÿ`) are written as themselves; the other 68 bytes, in order, as
    the characters from U+0100 on (so the space, byte 32, is U+0120 `Ġ`).
    """
    printable = {*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)}
    names: list[str] = []
    stand_ins = 0
    for byte in range(256):
        if byte in printable:
            names.append(chr(byte))
        else:
            names.append(chr(256 + stand_ins))
            stand_ins += 1
    return tuple(names)


def byte_level_name(data: bytes) -> str:
    """The byte-level name of a token's bytes."""
    names = byte_level_names()
    return "".join(names[b] for b in data)
