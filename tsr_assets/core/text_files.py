"""Reading the team's and users' UTF-8 data files with errors that name file and line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def read_utf8_file(
    path: Path, error: type[ValueError], folder_kind: str, expected_files: Iterable[str]
) -> str:
    """The text of `path` (BOM removed), or `error` naming the file and the line at fault.

    `folder_kind` and `expected_files` go into the missing-file message ("A wordlist folder
    needs nouns.txt, ...").
    """
    if not path.is_file():
        raise error(
            f"{path}: file not found. A {folder_kind} folder needs " + ", ".join(expected_files)
        )
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{path}, line {line}: not valid UTF-8 ({exc.reason} at byte {exc.start}). "
            "Save the file as UTF-8."
        ) from None
    return text.lstrip("\ufeff")
