"""Turning wordlists into a table of unique prompts, chunk by chunk.

Chunks keep memory flat: 3 million prompts of ~900 characters would be ~3 GB of text at once,
so rows are built and written in slices and never held whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import polars as pl
import pyarrow.parquet as pq

from tsr_assets.core.atomic_files import atomic_path
from tsr_assets.core.languages import Language
from tsr_assets.prompts.sampling import (
    ROLES,
    combine_hashes,
    decode_combinations,
    hex_ids,
    permuted_indices,
    word_hashes,
)
from tsr_assets.prompts.templates import PromptTemplate, template_pieces
from tsr_assets.prompts.wordlists import Wordlists

FeatureLanguage = Literal["native", "english"]
PROMPT_COLUMNS = (
    "prompt_id", "noun", "verb", "adjective", "feature", "feature_en", "template",
    "template_hash", "max_words", "prompt",
)
DEFAULT_CHUNK_ROWS = 50_000
#: Prompts per language when nobody asks for a number (the offline main job).
DEFAULT_PROMPT_COUNT = 200


class PromptCountError(ValueError):
    """More prompts were asked for than the wordlists' product holds."""


def check_prompt_count(count: int, wordlists: Wordlists, language: Language) -> None:
    """Raise a clear error when `count` is not in 1..(size of the product)."""
    total = wordlists.combination_count
    if count < 1:
        raise PromptCountError(f"prompt count must be at least 1, got {count}")
    if count > total:
        raise PromptCountError(
            f"asked for {count:,} prompts but the {language.display_name} wordlists allow at "
            f"most {total:,} unique combinations ({len(wordlists.nouns)} nouns x "
            f"{len(wordlists.verbs)} verbs x {len(wordlists.adjectives)} adjectives x "
            f"{len(wordlists.features)} features). Lower the count to "
            f"{total:,} or fewer, or add words."
        )


def english_features(wordlists: Wordlists, feature_language: FeatureLanguage) -> pl.Series:
    """The English feature per native feature; empty when the lists are not aligned (an
    error when English wording is asked for)."""
    if feature_language not in ("native", "english"):
        raise ValueError(
            f"feature_language must be 'native' or 'english', not {feature_language!r}"
        )
    if feature_language == "english" and not wordlists.features_aligned:
        raise ValueError(
            f"features in English were asked for, but the word lists hold "
            f"{len(wordlists.features)} features and {len(wordlists.features_en)} English ones: "
            "the two files must list the same features line for line (or word features in "
            "the language: feature_language 'native')")
    return pl.Series(values=list(wordlists.features_en) if wordlists.features_aligned
                     else [None] * len(wordlists.features), dtype=pl.String)


def prompt_expression(template: PromptTemplate, language: Language,
                      feature_language: FeatureLanguage) -> pl.Expr:
    """The template as one polars expression over the word columns (language slots filled)."""
    feature_col = "feature" if feature_language == "native" else "feature_en"
    return pl.concat_str([
        part
        for literal, slot in template_pieces(template, language)
        for part in ([pl.lit(literal)] if literal else [])
        + ([pl.col(feature_col if slot == "feature" else slot)] if slot else [])
    ])


def prompt_frames(
    wordlists: Wordlists,
    language: Language,
    template: PromptTemplate,
    count: int,
    seed: int,
    feature_language: FeatureLanguage = "native",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pl.DataFrame]:
    """Yield the prompt table in row chunks (columns `PROMPT_COLUMNS`).

    Row `i` is combination `perm(i)` of the seeded permutation, so a larger `count` with the
    same seed and lists only appends rows.
    """
    check_prompt_count(count, wordlists, language)
    features_en = english_features(wordlists, feature_language)
    lists = (wordlists.nouns, wordlists.verbs, wordlists.adjectives, wordlists.features)
    sizes = [len(x) for x in lists]
    hashes = [word_hashes(words, role) for words, role in zip(lists, ROLES, strict=True)]
    words = [pl.Series(values=list(x), dtype=pl.String) for x in lists]
    prompt_expr = prompt_expression(template, language, feature_language)
    total = wordlists.combination_count
    for start in range(0, count, chunk_rows):
        rows = min(chunk_rows, count - start)
        combos = permuted_indices(start, rows, total, seed)
        positions = decode_combinations(combos, sizes)
        ids = combine_hashes(*(h[p] for h, p in zip(hashes, positions, strict=True)))
        frame = pl.DataFrame(
            {
                "prompt_id": pl.Series(hex_ids(ids)).cast(pl.String),
                "noun": words[0].gather(positions[0]),
                "verb": words[1].gather(positions[1]),
                "adjective": words[2].gather(positions[2]),
                "feature": words[3].gather(positions[3]),
                "feature_en": features_en.gather(positions[3]),
            }
        )
        yield frame.with_columns(
            pl.lit(template.name).alias("template"),
            pl.lit(template.text_hash).alias("template_hash"),
            pl.lit(template.max_words, dtype=pl.Int32).alias("max_words"),
            prompt_expr.alias("prompt"),
        ).select(PROMPT_COLUMNS)


def write_prompts_parquet(frames: Iterator[pl.DataFrame], path: str | Path) -> int:
    """Stream prompt chunks into one parquet file, atomically; returns the row count.

    Raises if two rows share a prompt_id (a 64-bit hash collision: practically never, but a
    silent duplicate would corrupt every later stage).
    """
    rows = 0
    seen_ids: list[pl.Series] = []
    with atomic_path(path) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for frame in frames:
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table, row_group_size=10_000)
                seen_ids.append(frame["prompt_id"])
                rows += frame.height
        finally:
            if writer is not None:
                writer.close()
        if seen_ids and pl.concat(seen_ids).n_unique() != rows:
            raise RuntimeError(
                "two prompts hashed to the same prompt_id; change the seed and re-run"
            )
    return rows


def prompts_max_words(path: Path) -> int:
    """The longest story the prompts at `path` ask for (300 words for tables made before the
    column existed)."""
    columns = pq.ParquetFile(path).schema_arrow.names
    if "max_words" not in columns:
        return PromptTemplate("", "", "").max_words
    first = pl.read_parquet(path, columns=["max_words"], n_rows=1)["max_words"]
    return int(first[0]) if first.len() else PromptTemplate("", "", "").max_words
