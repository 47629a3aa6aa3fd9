"""MorphScore: how often a tokenizer splits a word exactly at its first morpheme boundary.

The gold data are rows `full_word, pt1, rest` with `pt1 + rest == full_word`: `pt1` is the
stem (first morpheme), `rest` the remainder (`walked = walk + ed`, `लड़कों = लड़क + ों`).
MorphScore, as the original study computes it:

1. Tokenize each word alone, without special tokens (`Tokenizer.encode` never adds any).
2. Strip one leading word-start marker from the first piece: `▁` (SentencePiece), `Ġ`
   (GPT-2 byte-level) or a space. A first piece that is nothing but the marker (SentencePiece
   often encodes a word as `▁` + pieces) is dropped.
3. A word that is then a single token is left out (counted in `words_single_token`).
4. A word scores 1 when some split point k (1..n-1) of its n pieces gives exactly
   `[pt1, rest]`: `pieces[:k]` joined is `pt1` and `pieces[k:]` joined is `rest`; else 0.
5. MorphScore is the mean over the words left in (NaN when none is left).

`Tokenizer` does not expose pieces, so pieces are compared through `decode`, which works for
every backend and gets byte pieces right:

- the text before split k is `decode(ids[:k])` with one leading marker or space stripped;
- the text after it is `decode(ids[k:])`, or, for decoders that render a piece differently
  at the start of a text than inside it (WordPiece's `##`), what `decode(ids)` holds after
  `decode(ids[:k])`. Either has to be `rest`.

A split inside a UTF-8 character (byte-level BPE, SentencePiece byte fallback, the byte
tokenizer) decodes to a replacement character on both sides, so it never matches; a split
between byte pieces at a code point boundary decodes exactly and does match. That is the
piece-joining definition applied to the bytes the pieces stand for. Decoded text is compared
in NFC, as the gold lists are stored.

Gold lists ship as `tsr_assets/data/<language>/morph_gold.csv` (`packaged_morph_gold`).
Nothing here imports Dagster.
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tsr_assets.core.languages import get_language
from tsr_assets.tokenizers.base import Tokenizer

#: The packaged gold list in each language's data folder.
MORPH_GOLD_FILE = "morph_gold.csv"
#: Columns a gold list must have (others are ignored).
GOLD_COLUMNS = ("full_word", "pt1", "rest")
#: Word-start markers stripped (one, once) from the first piece.
WORD_START_MARKERS = ("\u2581", "\u0120", " ")
#: Row problems listed in full in a `MorphGoldError`; the rest are counted.
MAX_LISTED_PROBLEMS = 20


class MorphGoldError(ValueError):
    """A MorphScore gold list cannot be used; the message names the file and every problem."""


@dataclass(frozen=True)
class GoldWord:
    """One gold word: `full_word == pt1 + rest`, `pt1` its first morpheme (the stem)."""

    full_word: str
    pt1: str
    rest: str


@dataclass(frozen=True)
class MorphScore:
    """MorphScore of a tokenizer on a gold list.

    Attributes:
        score: share of the scored words split exactly at the first morpheme boundary
            (NaN when no word is scored).
        words_scored: words of more than one token (the ones the score is over).
        words_single_token: words that are one token, left out.
        words_total: all words of the gold list.
    """

    score: float
    words_scored: int
    words_single_token: int
    words_total: int


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _problem_list(path: Path, problems: list[str]) -> str:
    listed = problems[:MAX_LISTED_PROBLEMS]
    lines = [f"{path}: {len(problems)} problem{'s' if len(problems) > 1 else ''} in this "
             "MorphScore gold list (a CSV with a header holding full_word,pt1,rest, "
             "pt1 + rest spelling full_word):"]
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
    """One data row as a word, or the problem with it (None, None: nothing to check when the
    header lacks a column)."""
    short = [column for column, i in index.items() if i >= len(row)]
    if short:
        return None, (f"line {line}: {len(row)} cells, fewer than the header's {width} (no "
                      f"{', '.join(short)}); give every row all columns")
    cells = {column: _nfc(row[i].strip()) for column, i in index.items()}
    empty = [column for column, value in cells.items() if not value]
    if empty:
        return None, (f"line {line}: empty {', '.join(empty)}; fill it in (full_word is the "
                      "word, pt1 its first morpheme, rest the remainder)")
    if header_broken:
        return None, None
    word, pt1, rest = cells["full_word"], cells["pt1"], cells["rest"]
    if pt1 + rest != word:
        return None, (f"line {line}: pt1 + rest is {pt1!r} + {rest!r} = {pt1 + rest!r}, not "
                      f"full_word {word!r}; make pt1 + rest spell full_word exactly")
    return GoldWord(word, pt1, rest), None


def load_morph_gold(path: str | Path) -> list[GoldWord]:
    """Read a MorphScore gold list: a UTF-8 CSV (a BOM is fine) with a header.

    The header must hold `full_word`, `pt1` and `rest`; other columns (an unnamed leading
    index column, notes) are ignored. Cells are stripped of surrounding whitespace and
    NFC-normalized; blank lines are skipped. Every problem is collected first.

    Raises:
        MorphGoldError: naming the file, and for rows the line and what to fix: missing
            columns, rows with fewer cells than the header, empty cells, `pt1 + rest` not
            spelling `full_word`, an unreadable or empty file.
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


def _strip_marker(text: str) -> str:
    for marker in WORD_START_MARKERS:
        if text.startswith(marker):
            return text[len(marker):]
    return text


def _first_piece(tokenizer: Tokenizer, ids: Sequence[int]) -> int:
    """1 when the first of several ids is a bare word-start marker (decodes to nothing)."""
    return 1 if len(ids) > 1 and not _strip_marker(tokenizer.decode(ids[:1])) else 0


def _splits_at_boundary(
    tokenizer: Tokenizer, ids: Sequence[int], first: int, word: GoldWord
) -> bool:
    """Whether some split of `ids` after position `first` is exactly `[pt1, rest]`."""
    full: str | None = None
    for k in range(first + 1, len(ids)):
        before = tokenizer.decode(ids[:k])
        if _nfc(_strip_marker(before)) != word.pt1:
            continue
        if _nfc(tokenizer.decode(ids[k:])) == word.rest:
            return True
        full = tokenizer.decode(ids) if full is None else full
        if full.startswith(before) and _nfc(full[len(before):]) == word.rest:
            return True
    return False


def morph_score(tokenizer: Tokenizer, gold: Sequence[GoldWord]) -> MorphScore:
    """MorphScore of `tokenizer` on the gold words (see the module docstring).

    The words are encoded in one `encode_batch` call. A word that is a single token (after
    dropping a bare leading word-start marker) is left out; the score is the share of the
    other words that some split point of their tokens divides into exactly `pt1` and `rest`.
    """
    all_ids = tokenizer.encode_batch([word.full_word for word in gold]) if gold else []
    scored = matched = single = 0
    for word, ids in zip(gold, all_ids, strict=True):
        first = _first_piece(tokenizer, ids)
        if len(ids) - first <= 1:
            single += 1
            continue
        scored += 1
        matched += _splits_at_boundary(tokenizer, ids, first, word)
    score = matched / scored if scored else math.nan
    return MorphScore(score=score, words_scored=scored, words_single_token=single,
                      words_total=len(gold))
