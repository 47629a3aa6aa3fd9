"""Partitions of the asset graph: by language, by tokenizer, and by language x tokenizer.

Built by a function rather than at import, so a language or tokenizer registered at run time (a
test, a notebook) gets its partition in the definitions built afterwards. The keys come from the
two registries: `core/languages.py` and `tokenizers/registry.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg

from tsr_assets.core.languages import language_keys
from tsr_assets.tokenizers.registry import tokenizer_keys


@dataclass(frozen=True)
class Partitions:
    """The three partitions definitions one `Definitions` object uses."""

    language: dg.StaticPartitionsDefinition
    tokenizer: dg.StaticPartitionsDefinition
    language_tokenizer: dg.MultiPartitionsDefinition


def build_partitions(
    languages: Sequence[str] | None = None,
    tokenizers: Sequence[str] | None = None,
) -> Partitions:
    """Partitions for `languages` and `tokenizers` (default: every registered one)."""
    language = dg.StaticPartitionsDefinition(list(languages or language_keys()))
    tokenizer = dg.StaticPartitionsDefinition(list(tokenizers or tokenizer_keys()))
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


def partition_keys(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> tuple[str, str]:
    """(language, tokenizer) of the language x tokenizer partition a step runs for."""
    keys = context.partition_key.keys_by_dimension
    return keys["language"], keys["tokenizer"]
