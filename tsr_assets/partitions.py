"""Partitions of the asset graph: by language, by tokenizer, and by language x tokenizer.

Built by a function rather than at import so a language registered at run time (a test, a
notebook) gets its partition in the definitions built afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from tsr_assets.languages import language_keys

# The tokenizers every (language, tokenizer) asset is partitioned by.
TOKENIZER_KEYS: tuple[str, ...] = ("spm", "byte", "gpt2", "sarvam", "sutra")
# Those that work on a fresh machine with no network (the main job uses these).
OFFLINE_TOKENIZER_KEYS: tuple[str, ...] = ("spm", "byte", "gpt2")


@dataclass(frozen=True)
class Partitions:
    """The three partitions definitions one `Definitions` object uses."""

    language: dg.StaticPartitionsDefinition
    tokenizer: dg.StaticPartitionsDefinition
    language_tokenizer: dg.MultiPartitionsDefinition


def build_partitions(
    languages: Sequence[str] | None = None,
    tokenizers: Sequence[str] = TOKENIZER_KEYS,
) -> Partitions:
    """Partitions for `languages` (default: every registered language) and `tokenizers`."""
    language = dg.StaticPartitionsDefinition(list(languages or language_keys()))
    tokenizer = dg.StaticPartitionsDefinition(list(tokenizers))
    return Partitions(
        language=language,
        tokenizer=tokenizer,
        language_tokenizer=dg.MultiPartitionsDefinition(
            {"language": language, "tokenizer": tokenizer}
        ),
    )


def language_tokenizer_key(language: str, tokenizer: str) -> dg.MultiPartitionKey:
    """The multi-partition key for one (language, tokenizer) pair; prints as `hindi|spm`."""
    return dg.MultiPartitionKey({"language": language, "tokenizer": tokenizer})
