"""MorphScore gold lists: rows `full_word, pt1, rest`, `pt1` the first morpheme (the stem) and
`rest` the remainder (`walked = walk + ed`, `लड़कों = लड़क + ों`).

A list is used as it is published, as the original study reads it (pandas' `read_csv`): cells
are neither stripped nor Unicode-normalized, and a row whose `pt1 + rest` does not spell
`full_word` (a sandhi such as `मनोहर = मनो + रम`, a trailing space in a cell, an empty `pt1`)
is kept. Such a row is *unmatchable*: MorphScore scores it like any other word, and no split of
a word's pieces can give `[pt1, rest]`, so it scores 0 where it is scored. Only rows that
cannot be read at all are errors: a column missing from the header, a row short of cells, an
empty `full_word`.

The packaged lists ship as `tsr_assets/data/<language>/morph_gold.csv`
(`packaged_morph_gold`). Nothing here imports Dagster.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tsr_assets.core.languages import get_language

#: The packaged gold list in each language's data folder.
MORPH_GOLD_FILE = "morph_gold.csv"
#: Columns a gold list must have (others, such as an unnamed index column, are ignored).
GOLD_COLUMNS = ("full_word", "pt1", "rest")
#: Row problems listed in full in a `MorphGoldError`; the rest are counted.
MAX_LISTED_PROBLEMS = 20


class MorphGoldError(ValueError):
    """A MorphScore gold list cannot be read; the message names the file and every problem."""


@dataclass(frozen=True)
class GoldWord:
    """One gold row as the file has it: `full_word`, its first morpheme `pt1` and the rest.

    `line` is the row's line in its file (0 for words made in code); it is not part of the
    word's identity.
    """

    full_word: str
    pt1: str
    rest: str
    line: int = field(default=0, compare=False)

    @property
    def spelled(self) -> bool:
        """Whether `pt1 + rest` spells `full_word` exactly, both parts non-empty (else no split
        of the word's pieces can match the row)."""
        return bool(self.pt1) and bool(self.rest) and self.pt1 + self.rest == self.full_word


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def unmatchable_reason(word: GoldWord) -> str | None:
    """Why `pt1 + rest` does not spell `full_word` (None when it does), in a few words."""
    if word.spelled:
        return None
    empty = [name for name in ("pt1", "rest") if not getattr(word, name)]
    if empty:
        return f"empty {' and '.join(empty)}"
    padded = [name for name in GOLD_COLUMNS if getattr(word, name) != getattr(word, name).strip()]
    if padded:
        return f"space around {', '.join(padded)}"
    if _nfc(word.pt1) + _nfc(word.rest) == _nfc(word.full_word):
        return "spells full_word only after NFC normalization"
    return f"pt1 + rest is {word.pt1 + word.rest}"


def unmatchable_words(gold: Sequence[GoldWord]) -> list[tuple[GoldWord, str]]:
    """The rows of a gold list whose `pt1 + rest` does not spell `full_word`, with why."""
    return [(word, reason) for word in gold if (reason := unmatchable_reason(word))]


def _problem_list(path: Path, problems: list[str]) -> str:
    listed = problems[:MAX_LISTED_PROBLEMS]
    lines = [f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in this "
             "MorphScore gold list (a CSV with a header holding full_word,pt1,rest and a "
             "word in every row):"]
    lines += [f"- {problem}" for problem in listed]
    if len(problems) > len(listed):
        lines.append(f"- ... and {len(problems) - len(listed)} more")
    return "\n".join(lines)


def _gold_text(path: Path) -> str:
    """The file's text (BOM removed), or an error naming the file (and the line for bad
    UTF-8)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MorphGoldError(f"{path}: cannot read the MorphScore gold list "
                             f"({exc.strerror or exc}).") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MorphGoldError(f"{path}, line {line}: not valid UTF-8 ({exc.reason} at byte "
                             f"{exc.start}). Save the file as UTF-8.") from None


def _gold_row(row: list[str], line: int, index: dict[str, int], width: int,
              header_broken: bool) -> tuple[GoldWord | None, str | None]:
    """One data row as a word (cells as the file has them), or the problem with it (None,
    None: nothing to check when the header lacks a column)."""
    short = [column for column, i in index.items() if i >= len(row)]
    if short:
        return None, (f"line {line}: {len(row)} cells, fewer than the header's {width} (no "
                      f"{', '.join(short)}); give every row all columns")
    if "full_word" in index and not row[index["full_word"]].strip():
        return None, f"line {line}: empty full_word; fill in the word or remove the row"
    if header_broken:
        return None, None
    return GoldWord(*(row[index[column]] for column in GOLD_COLUMNS), line=line), None


def load_morph_gold(path: str | Path) -> list[GoldWord]:
    """Read a MorphScore gold list: a UTF-8 CSV (a BOM is fine) with a header.

    The header must hold `full_word`, `pt1` and `rest`; other columns (an unnamed leading
    index column as in the original's Bengali list, notes) are ignored. Cells are kept as the
    file has them (no stripping, no normalization); rows whose `pt1 + rest` does not spell
    `full_word` are kept (see `unmatchable_words`). Blank lines are skipped. Every problem is
    collected first.

    Raises:
        MorphGoldError: naming the file, and for rows the line and what to fix: missing
            columns, rows with fewer cells than the header, an empty `full_word`, an
            unreadable or empty file.
    """
    path = Path(path)
    reader = csv.reader(io.StringIO(_gold_text(path), newline=""))
    header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    if header is None:
        raise MorphGoldError(f"{path}: the file is empty. A MorphScore gold list is a CSV "
                             "with the header full_word,pt1,rest and one word per row.")
    names = [cell.strip() for cell in header]
    header_line = reader.line_num
    problems: list[str] = []
    missing = [column for column in GOLD_COLUMNS if column not in names]
    if missing:
        problems.append(
            f"line {header_line}: the header has no column {', '.join(missing)} "
            f"(it has: {', '.join(repr(n) for n in names)}); name the columns "
            f"{','.join(GOLD_COLUMNS)}"
        )
    index = {column: names.index(column) for column in GOLD_COLUMNS if column in names}

    words: list[GoldWord] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        word, problem = _gold_row(row, reader.line_num, index, len(names), bool(missing))
        if problem:
            problems.append(problem)
        elif word is not None:
            words.append(word)

    if problems:
        raise MorphGoldError(_problem_list(path, problems))
    if not words:
        raise MorphGoldError(f"{path}: the header is there but no word follows; add rows "
                             "full_word,pt1,rest.")
    return words


def packaged_morph_gold(language_key: str) -> Path:
    """Path of the gold list packaged for a language: `<its data folder>/morph_gold.csv`.

    Raises:
        KeyError: for a language that is not registered (the message lists the known ones).
        FileNotFoundError: when the language's data folder has no gold list.
    """
    path = get_language(language_key).package_data_dir / MORPH_GOLD_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: language {language_key!r} has no MorphScore gold list; write one "
            f"(CSV with header {','.join(GOLD_COLUMNS)}) or pass your own to load_morph_gold"
        )
    return path
