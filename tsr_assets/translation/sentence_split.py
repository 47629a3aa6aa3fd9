"""Splitting source stories (English, or any registered language) into sentences for a
translation model, and keeping track of where each sentence belongs so the translations can be
put back together.

Seq2seq translation models are trained on sentence pairs and stop (or cut off) at their
maximum input length; a whole story given at once silently loses its end. Stories are split
into paragraphs and sentences, sentences longer than the model's limit are split again at
clause boundaries and then between words, and the pieces are translated independently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# A sentence ends at . ! ? (or …), possibly followed by closing quotes or brackets, then
# whitespace, before a capital letter, a digit or an opening quote.
_BOUNDARY = re.compile(
    r"(?<=[.!?\u2026])([\"'\u201d\u2019)\]]*)\s+(?=[\"'\u201c\u2018(\[]?[A-Z0-9])")
_ABBREVIATIONS = ("Mr.", "Mrs.", "Ms.", "Dr.", "St.", "Mt.", "Jr.", "Sr.", "vs.", "e.g.",
                  "i.e.", "etc.")
_CLAUSE = re.compile(r"(?<=[,;:])\s+")
_CLOSING = "\"'\u201d\u2019)\\]"


def _boundary_for(terminators: tuple[str, ...]) -> re.Pattern:
    """A sentence ends at one of `terminators` (danda, ., !, ?), maybe followed by closing
    quotes or brackets, then whitespace: scripts without capitals have no other sign."""
    ends = "".join(re.escape(t) for t in dict.fromkeys((*terminators, "!", "?", "\u2026")))
    return re.compile(f"(?<=[{ends}])([{_CLOSING}]*)\\s+")


@dataclass(frozen=True)
class Piece:
    """One unit sent to the translator: which story and paragraph it came from."""

    story: int
    paragraph: int
    text: str


def split_sentences(paragraph: str, terminators: tuple[str, ...] | None = None) -> list[str]:
    """Sentences of one paragraph. Without `terminators` (English), a sentence ends before a
    capital letter and abbreviations such as "Mr." do not end one; with a language's
    terminators (Hindi's danda, say), at any of them followed by a space."""
    paragraph = " ".join(paragraph.split())
    if not paragraph:
        return []
    sentences: list[str] = []
    start = 0
    boundary = _BOUNDARY if terminators is None else _boundary_for(terminators)
    for match in boundary.finditer(paragraph):
        head = paragraph[start:match.start()] + match.group(1)
        if head.endswith(_ABBREVIATIONS):
            continue
        sentences.append(head.strip())
        start = match.end()
    sentences.append(paragraph[start:].strip())
    return [s for s in sentences if s]


def fit_to_limit(sentence: str, limit: int, count_tokens: Callable[[str], int]) -> list[str]:
    """`sentence` as pieces of at most `limit` tokens: split at clause punctuation first, then
    between words (a single word over the limit stays whole)."""
    if count_tokens(sentence) <= limit:
        return [sentence]
    pieces: list[str] = []
    for clause in _CLAUSE.split(sentence):
        if pieces and count_tokens(pieces[-1] + " " + clause) <= limit:
            pieces[-1] = pieces[-1] + " " + clause
        elif count_tokens(clause) <= limit:
            pieces.append(clause)
        else:
            current = ""
            for word in clause.split():
                candidate = f"{current} {word}".strip()
                if current and count_tokens(candidate) > limit:
                    pieces.append(current)
                    current = word
                else:
                    current = candidate
            if current:
                pieces.append(current)
    return pieces


def split_story(story_index: int, text: str, limit: int | None = None,
                count_tokens: Callable[[str], int] | None = None,
                terminators: tuple[str, ...] | None = None) -> list[Piece]:
    """Every piece of one story in reading order; with `limit`, none longer than it
    (`terminators`: the source language's, None for English)."""
    pieces = []
    for p, paragraph in enumerate(part for part in text.split("\n") if part.strip()):
        for sentence in split_sentences(paragraph, terminators):
            parts = (fit_to_limit(sentence, limit, count_tokens)
                     if limit is not None and count_tokens is not None else [sentence])
            pieces.extend(Piece(story_index, p, part) for part in parts)
    return pieces


def join_pieces(pieces: list[Piece], translations: list[str]) -> str:
    """Translated pieces of one story back into paragraphs (pieces in reading order)."""
    paragraphs: dict[int, list[str]] = {}
    for piece, translated in zip(pieces, translations, strict=True):
        paragraphs.setdefault(piece.paragraph, []).append(" ".join(translated.split()))
    return "\n".join(" ".join(t for t in parts if t) for _, parts in sorted(paragraphs.items()))
