"""MorphScore: how often a tokenizer splits a word exactly at its first morpheme boundary.

Gold lists (`full_word, pt1, rest` rows) are read by `morph_gold.py`, as published. Two
definitions are computed:

**`morph_score`, the original study's (its Table 5).**

1. Tokenize each word alone, without special tokens (`Tokenizer.encode` never adds any).
2. Take the pieces as the tokenizer names them (`Tokenizer.pieces`, what `transformers`'
   `convert_ids_to_tokens` gives: SentencePiece byte pieces stay `<0xE0>`, GPT-2 byte-level
   pieces are written in its byte alphabet) and strip one leading word-start marker (`▁` or
   `Ġ`) from the first piece. A first piece that was a bare `▁` stays, as an empty piece.
3. A word of one piece is left out (counted in `words_single_token`).
4. A word scores 1 when some split point k (1..n-1) of its n pieces gives exactly
   `[pt1, rest]`: `''.join(pieces[:k]) == pt1` and `''.join(pieces[k:]) == rest`; else 0.
   Cells are compared as the file has them; an empty `pt1` or `rest` (a missing value to
   the original's pandas) never matches. Rows whose `pt1 + rest` does not spell the word are
   scored like the others, so where they are scored they score 0; they are counted in
   `words_unmatchable`.
5. MorphScore is the mean over the words left in (NaN when none is left).

**`morph_score_decoded`, the platform's earlier variant**, which compares decoded text instead
of piece names, over the rows whose `pt1 + rest` spells the word (in NFC, both parts non-empty;
the others are left out and counted in `words_unmatchable`):

- one leading marker (`▁`, `Ġ` or a space) is stripped, and a first piece that is nothing but
  the marker (SentencePiece often encodes a word as `▁` + pieces) is dropped before the
  single-token rule;
- the text before split k is `decode(ids[:k])` with that marker stripped; the text after it is
  `decode(ids[k:])`, or, for decoders that render a piece differently at the start of a text
  than inside it (WordPiece's `##`), what `decode(ids)` holds after `decode(ids[:k])`;
- decoded text and cells are compared in NFC.

A split inside a UTF-8 character decodes to a replacement character, so it never matches in
the decoded variant, but a split between byte pieces at a code point boundary does; in the
original's definition byte pieces never match text at all (`<0xE0>` is not `ह`).

Nothing here imports Dagster.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from tsr_assets.tokenizers.base import Tokenizer
from tsr_assets.tokenizers.morph_gold import (
    GOLD_COLUMNS,
    MORPH_GOLD_FILE,
    GoldWord,
    MorphGoldError,
    load_morph_gold,
    packaged_morph_gold,
    unmatchable_reason,
    unmatchable_words,
)

__all__ = ["GOLD_COLUMNS", "MORPH_GOLD_FILE", "GoldWord", "MorphGoldError", "MorphScore",
           "load_morph_gold", "morph_score", "morph_score_decoded", "packaged_morph_gold",
           "unmatchable_reason", "unmatchable_words", "word_pieces"]

#: Word-start markers the original's definition strips (one, once) from the first piece.
PIECE_MARKERS = ("\u2581", "\u0120")
#: Word-start markers the decoded variant strips from the decoded text before a split.
WORD_START_MARKERS = ("\u2581", "\u0120", " ")


@dataclass(frozen=True)
class MorphScore:
    """MorphScore of a tokenizer on a gold list.

    Attributes:
        score: share of the scored words split exactly at the first morpheme boundary
            (NaN when no word is scored).
        words_scored: words of more than one piece (the ones the score is over).
        words_single_token: words that are one piece, left out.
        words_total: all rows of the gold list.
        words_unmatchable: rows whose `pt1 + rest` does not spell the word. `morph_score`
            scores them (0 where they are scored); `morph_score_decoded` leaves them out.
    """

    score: float
    words_scored: int
    words_single_token: int
    words_total: int
    words_unmatchable: int = 0


def word_pieces(tokenizer: Tokenizer, ids: Sequence[int]) -> list[str]:
    """The pieces of a word's ids as the tokenizer names them, one leading `▁` or `Ġ`
    stripped from the first piece (a bare marker becomes an empty piece)."""
    pieces = list(tokenizer.pieces(ids))
    if pieces:
        for marker in PIECE_MARKERS:
            if pieces[0].startswith(marker):
                pieces[0] = pieces[0][len(marker):]
                break
    return pieces


def _pieces_match(pieces: Sequence[str], word: GoldWord) -> bool:
    """Whether some split of the joined piece names is exactly `[pt1, rest]`."""
    if not word.pt1 or not word.rest:
        return False
    return any("".join(pieces[:k]) == word.pt1 and "".join(pieces[k:]) == word.rest
               for k in range(1, len(pieces)))


def morph_score(tokenizer: Tokenizer, gold: Sequence[GoldWord]) -> MorphScore:
    """MorphScore as the original study defines it (see the module docstring): piece names
    joined, single-piece words left out, every other row scored, unmatchable rows too.

    The words are encoded in one `encode_batch` call.
    """
    all_ids = tokenizer.encode_batch([word.full_word for word in gold]) if gold else []
    scored = matched = single = 0
    for word, ids in zip(gold, all_ids, strict=True):
        pieces = word_pieces(tokenizer, ids)
        if len(pieces) == 1:
            single += 1
            continue
        scored += 1
        matched += _pieces_match(pieces, word)
    return MorphScore(score=matched / scored if scored else math.nan, words_scored=scored,
                      words_single_token=single, words_total=len(gold),
                      words_unmatchable=sum(not word.spelled for word in gold))


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _spelled_in_nfc(word: GoldWord) -> bool:
    pt1, rest = _nfc(word.pt1), _nfc(word.rest)
    return bool(pt1) and bool(rest) and pt1 + rest == _nfc(word.full_word)


def _strip_marker(text: str) -> str:
    for marker in WORD_START_MARKERS:
        if text.startswith(marker):
            return text[len(marker):]
    return text


def _first_piece(tokenizer: Tokenizer, ids: Sequence[int]) -> int:
    """1 when the first of several ids is a bare word-start marker (decodes to nothing)."""
    return 1 if len(ids) > 1 and not _strip_marker(tokenizer.decode(ids[:1])) else 0


def _splits_at_boundary(
    tokenizer: Tokenizer, ids: Sequence[int], first: int, pt1: str, rest: str
) -> bool:
    """Whether some split of `ids` after position `first` decodes to exactly `[pt1, rest]`."""
    full: str | None = None
    for k in range(first + 1, len(ids)):
        before = tokenizer.decode(ids[:k])
        if _nfc(_strip_marker(before)) != pt1:
            continue
        if _nfc(tokenizer.decode(ids[k:])) == rest:
            return True
        full = tokenizer.decode(ids) if full is None else full
        if full.startswith(before) and _nfc(full[len(before):]) == rest:
            return True
    return False


def morph_score_decoded(tokenizer: Tokenizer, gold: Sequence[GoldWord]) -> MorphScore:
    """MorphScore compared on decoded text (see the module docstring), over the rows whose
    `pt1 + rest` spells the word in NFC, both parts non-empty; the other rows are left out
    (`words_unmatchable`).

    A word that is a single token (after dropping a bare leading word-start marker) is left
    out; the score is the share of the other words that some split point of their tokens
    divides into exactly `pt1` and `rest`.
    """
    usable = [word for word in gold if _spelled_in_nfc(word)]
    all_ids = tokenizer.encode_batch([word.full_word for word in usable]) if usable else []
    scored = matched = single = 0
    for word, ids in zip(usable, all_ids, strict=True):
        first = _first_piece(tokenizer, ids)
        if len(ids) - first <= 1:
            single += 1
            continue
        scored += 1
        matched += _splits_at_boundary(tokenizer, ids, first, _nfc(word.pt1), _nfc(word.rest))
    return MorphScore(score=matched / scored if scored else math.nan, words_scored=scored,
                      words_single_token=single, words_total=len(gold),
                      words_unmatchable=len(gold) - len(usable))
