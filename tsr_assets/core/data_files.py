"""Reading JSON and parquet files that the lake holds or a user gives, as data: a damaged file
(not valid JSON, a parquet shard cut short or corrupt) is an error that names the file, what is
wrong with it and what to do, every damaged file of a set at once, before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq


class DamagedFileError(ValueError):
    """A file cannot be read as what it should be; the message names it and the fix."""


def read_json_file(path: Path, fix: str) -> Any:
    """The JSON value in `path`; `fix` says what to do when it is not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DamagedFileError(f"{path}, line {exc.lineno} column {exc.colno}: not valid JSON "
                               f"({exc.msg}). {fix}") from None
    except UnicodeDecodeError as exc:
        raise DamagedFileError(f"{path}: not UTF-8 text (byte {exc.start}). {fix}") from None


def _parquet_problem(path: Path, read_data: bool) -> str | None:
    """Why `path` is not a readable parquet file (None when it is)."""
    try:
        if read_data:
            pq.read_table(path)
        else:
            pq.read_metadata(path)
    except Exception as exc:  # pyarrow raises several types for damaged files
        return f"{path} ({type(exc).__name__}: {str(exc)[:160]})"
    return None


def check_parquet_files(files: Sequence[Path], fix: str, read_data: bool = False) -> None:
    """Raise one `DamagedFileError` naming every file of `files` whose footer (or, with
    `read_data`, whose data) cannot be read. Footers are cheap: a few KB per file."""
    problems = [p for p in (_parquet_problem(f, read_data) for f in files) if p]
    if problems:
        listed = "\n".join(f"- {p}" for p in problems)
        raise DamagedFileError(f"{len(problems)} of {len(files)} parquet files cannot be read "
                               f"(cut short or corrupt):\n{listed}\n{fix}")


def read_parquet_files(files: Sequence[Path], fix: str, **kwargs: Any) -> pl.DataFrame:
    """`pl.read_parquet(files, **kwargs)`, with every damaged file named when it fails."""
    check_parquet_files(files, fix)
    try:
        return pl.read_parquet(list(files), **kwargs)
    except (pl.exceptions.PolarsError, OSError):
        check_parquet_files(files, fix, read_data=True)  # which one, when the footers were fine
        raise  # every file reads alone: not damage (a schema clash, say)
