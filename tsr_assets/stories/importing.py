"""Importing an existing stories dataset into the story store instead of generating one.

Sources: a local parquet / JSON / JSONL / CSV file, a folder of such files, or a Hugging Face
dataset name (needs the network or a local HF cache).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from tsr_assets.core.data_files import DamagedFileError, check_parquet_files
from tsr_assets.core.languages import Language
from tsr_assets.llm.generation_runs import NO_RESULTS, GenerationRun
from tsr_assets.stories.parsing import StoryLimits, snippet, validate_story
from tsr_assets.stories.store import compact, now_utc, open_journal, stored_prompt_ids

SUFFIXES = {".parquet", ".json", ".jsonl", ".ndjson", ".csv"}


def imported_prompt_id(text: str) -> str:
    """A stable id for an imported story (it has no prompt): a hash of its text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8, person=b"import").hexdigest()


def read_local_frame(path: Path, columns: list[str], setting: str) -> pl.DataFrame:
    """`columns` of one parquet / JSON / JSONL / CSV file; a missing column is an error that
    names the file, the columns it has and the `setting` that chooses the column."""
    suffix = path.suffix.lower()
    readers = {".parquet": pl.read_parquet, ".jsonl": pl.read_ndjson, ".ndjson": pl.read_ndjson,
               ".json": pl.read_json, ".csv": pl.read_csv}
    if suffix not in readers:
        raise ValueError(f"{path}: unsupported file type; use one of {sorted(SUFFIXES)}")
    fix = (f"Repair or re-export {path.name}, or move it out of the folder; nothing was "
           "imported.")
    if suffix == ".parquet":
        check_parquet_files([path], fix)
    try:
        frame = readers[suffix](path)
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        raise DamagedFileError(f"{path}: cannot be read as {suffix[1:]} "
                               f"({type(exc).__name__}: {str(exc)[:200]}). {fix}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(map(repr, missing))}; columns are {frame.columns}. "
            f"Set `{setting}` to the column that holds the story text."
        )
    return frame.select(pl.col(c).cast(pl.String) for c in columns)


def local_source_files(path: str | Path, what: str, columns: list[str] | None = None,
                       setting: str = "") -> list[Path]:
    """`path` itself, or every supported file in the folder `path` (sorted by name); `what`
    names the setting in the error when there is nothing to read. With `columns`, every file
    is read once first, and one error names all files that are damaged or lack a column, so a
    bad file late in a folder fails the run before anything is imported."""
    files = _source_files(path, what)
    if columns is not None:
        problems = []
        for file in files:
            try:
                read_local_frame(file, columns, setting)
            except ValueError as exc:  # DamagedFileError too
                problems.append(str(exc))
        if problems:
            listed = "\n".join(f"- {p}" for p in problems)
            raise DamagedFileError(f"{len(problems)} of {len(files)} files of {path} cannot be "
                                   f"used; nothing was read from any of them:\n{listed}")
    return files


def _source_files(path: str | Path, what: str) -> list[Path]:
    path = Path(path).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
        if not files:
            raise ValueError(f"{path}: no {sorted(SUFFIXES)} files in this folder")
        return files
    if path.is_file():
        return [path]
    raise FileNotFoundError(f"{path}: {what} not found")


def iter_local_texts(path: str | Path, text_column: str) -> Iterator[str]:
    """Texts from a local file or every supported file in a folder (sorted by name)."""
    for file in local_source_files(path, "import path", [text_column], "import_text_column"):
        for text in read_local_frame(file, [text_column], "import_text_column").to_series():
            if text:
                yield text


def iter_hf_texts(dataset: str, text_column: str, split: str = "train") -> Iterator[str]:
    """Texts from a Hugging Face dataset, streamed; fails fast with a clear message offline."""
    for row in iter_hf_rows(dataset, [text_column], split):
        if row[text_column]:
            yield str(row[text_column])


def iter_hf_rows(dataset: str, columns: list[str], split: str = "train") -> Iterator[dict]:
    """Rows of a Hugging Face dataset, streamed; an error names a missing column, and an
    unreachable dataset fails fast with what to do offline."""
    try:
        from datasets import load_dataset

        stream = load_dataset(dataset, split=split, streaming=True)
    except Exception as exc:  # noqa: BLE001 - datasets raises many types when offline
        raise RuntimeError(
            f"could not open Hugging Face dataset {dataset!r} ({type(exc).__name__}: "
            f"{str(exc)[:200]}). Without network access, download it elsewhere and point "
            "`import_path` at the parquet/JSON files instead."
        ) from None
    for row in stream:
        missing = [c for c in columns if c not in row]
        if missing:
            raise ValueError(f"dataset {dataset!r} has no column "
                             f"{', '.join(map(repr, missing))}; columns are {list(row)}")
        yield row


def import_stories(
    language: Language,
    folder: Path,
    texts: Iterator[str],
    provider: str,
    limits: StoryLimits,
    limit: int | None = None,
    log: Callable[[str], None] = print,
) -> GenerationRun:
    """Clean and validate existing story texts into the store (ids are hashes of the text).

    The quality gates apply as to generated stories. A source that yields texts but not one
    usable story fails the run (`outcome`).
    """
    compact(folder)
    done = stored_prompt_ids(folder)
    report = GenerationRun("stories", provider=provider, model="")
    already = 0
    with open_journal(folder) as journal:
        try:
            for text in texts:
                if limit is not None and report.requested >= limit:
                    break
                report.requested += 1
                prompt_id = imported_prompt_id(text)
                if prompt_id in done:
                    already += 1
                    continue
                story, reason = validate_story(json.dumps({"story": text}), language, limits)
                if story is None:
                    report.rejections[reason] = report.rejections.get(reason, 0) + 1
                    journal.write({"kind": "rejection", "prompt_id": prompt_id, "attempt": 1,
                                   "reason": reason, "snippet": snippet(text),
                                   "created_at": now_utc()})
                    continue
                done.add(prompt_id)
                report.generated += 1
                journal.write({"kind": "story", "prompt_id": prompt_id, "story": story,
                               "provider": provider, "model": "", "attempts": 1,
                               "latency_s": 0.0, "created_at": now_utc()})
        finally:
            journal.close()
            compact(folder)
    log(f"imported {report.generated:,} of {report.requested:,} texts; "
        f"rejected {report.rejections}")
    if report.requested > already and report.generated == 0:
        report.outcome = NO_RESULTS
        top = sorted(report.rejections.items(), key=lambda kv: -kv[1])[:3]
        report.error = (f"none of {report.requested - already:,} new texts passed validation; "
                        f"rejections by reason: {dict(top)}")
    return report
