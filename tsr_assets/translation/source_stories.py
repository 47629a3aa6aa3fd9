"""Where English stories to translate come from: a local file or folder, a Hugging Face
dataset, or the `english` partition's own stories. Every story gets a stable `source_id`
(its id column when there is one, else a hash of its text), so a rerun continues where the
last one stopped instead of starting over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tsr_assets.stories.importing import iter_hf_rows, local_source_files, read_local_frame
from tsr_assets.stories.store import read_table

#: The English TinyStories dataset on the Hugging Face Hub (text column `text`).
TINYSTORIES_DATASET = "roneneldan/TinyStories"


@dataclass(frozen=True)
class SourceStory:
    """One story to translate (from the translation's source language)."""

    source_id: str
    text: str


def source_id_of(text: str) -> str:
    """A stable id for a story without one: a hash of its whitespace-normalized text."""
    normal = " ".join(text.split())
    return "src-" + hashlib.blake2b(normal.encode("utf-8"), digest_size=8).hexdigest()


def _stories_from_frame(frame: pl.DataFrame, text_column: str, id_column: str | None
                        ) -> Iterator[SourceStory]:
    for row in frame.iter_rows(named=True):
        text = row[text_column]
        if not text or not str(text).strip():
            continue
        ident = row[id_column] if id_column else None
        yield SourceStory(str(ident) if ident is not None else source_id_of(str(text)), str(text))


def iter_local_stories(path: str | Path, text_column: str, id_column: str | None = None
                       ) -> Iterator[SourceStory]:
    """Stories from a parquet / JSON / JSONL / CSV file or every such file in a folder."""
    columns = [text_column] + ([id_column] if id_column else [])
    for file in local_source_files(path, "translation source", columns, "source_text_column"):
        yield from _stories_from_frame(read_local_frame(file, columns, "source_text_column"),
                                       text_column, id_column)


def iter_hf_stories(dataset: str, text_column: str, split: str = "train",
                    id_column: str | None = None) -> Iterator[SourceStory]:
    """Stories from a Hugging Face dataset, streamed."""
    for row in iter_hf_rows(dataset, [text_column] + ([id_column] if id_column else []), split):
        text = row[text_column]
        if text and str(text).strip():
            ident = row[id_column] if id_column else None
            yield SourceStory(str(ident) if ident is not None else source_id_of(str(text)),
                              str(text))


def iter_store_stories(folder: Path, language: str = "english") -> Iterator[SourceStory]:
    """The stories of a language's story store (its `stories` partition), by prompt_id."""
    table = read_table(folder, "story", ["prompt_id", "story"])
    if table.is_empty():
        raise ValueError(f"{folder}: no {language} stories stored; materialize `stories` for "
                         f"`{language}` first, or give a local file or a dataset id")
    for prompt_id, story in table.iter_rows():
        yield SourceStory(f"{language}:{prompt_id}", story)
