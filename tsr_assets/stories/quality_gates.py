"""Story quality gates beyond script and length: degenerate repetition and words that are not
words of the language. Each gate is a rejection reason with a configurable threshold
(`StoryLimits`), applied to generated and imported stories alike.

- `repetitive`: the share of sentences that repeat an earlier sentence exceeds
  `max_repeated_sentence_share`, or the share of word 4-grams that occurred earlier exceeds
  `max_repeated_ngram_share`.
- `unknown_words`: the share of words found in the language's lexicon (`lexicon.py`) is below
  `min_known_word_share` (default: the lexicon's own).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tsr_assets.core.languages import Language, get_language
from tsr_assets.core.words import words
from tsr_assets.stories.lexicon import Lexicon, lexicon_for

REJECT_REPETITIVE = "repetitive"
REJECT_UNKNOWN_WORDS = "unknown_words"
NGRAM = 4


@lru_cache(maxsize=64)
def _sentence_splitter(terminators: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("[" + re.escape("".join(terminators)) + "\n]")


def sentences(text: str, language: Language) -> list[str]:
    """The text's sentences (split at the language's terminators and line breaks)."""
    parts = _sentence_splitter(tuple(language.sentence_terminators)).split(text)
    return [" ".join(p.split()) for p in parts if p.strip()]


def repeated_share(items: Sequence) -> float:
    """Share of items equal to an item before them (0.0 for fewer than two)."""
    if len(items) < 2:
        return 0.0
    seen: set = set()
    repeated = 0
    for item in items:
        repeated += item in seen
        seen.add(item)
    return repeated / len(items)


@dataclass(frozen=True)
class GateScores:
    """What the gates measure on one story."""

    repeated_sentence_share: float
    repeated_ngram_share: float
    known_word_share: float


def gate_scores(story: str, language: Language, lexicon: Lexicon) -> GateScores:
    """Measure one (cleaned) story."""
    found = words(story)
    grams = [tuple(found[i:i + NGRAM]) for i in range(len(found) - NGRAM + 1)]
    return GateScores(repeated_share(sentences(story, language)), repeated_share(grams),
                      lexicon.known_share_of_words(found))


def gate_score_rows(texts: list[str], language_key: str,
                    lexicon_path: str | None = None) -> np.ndarray:
    """`gate_scores` of every text as rows (repeated sentence share, repeated 4-gram share,
    known word share): a scorer for `story_scan.score_stories`."""
    language, lexicon = get_language(language_key), lexicon_for(language_key, lexicon_path)
    out = np.empty((len(texts), 3))
    for row, text in enumerate(texts):
        scores = gate_scores(text, language, lexicon)
        out[row] = (scores.repeated_sentence_share, scores.repeated_ngram_share,
                    scores.known_word_share)
    return out


def gate_rejection(scores: GateScores, max_sentence: float, max_ngram: float,
                   min_known: float) -> str | None:
    """The first gate a story fails, or None."""
    if scores.repeated_sentence_share > max_sentence or scores.repeated_ngram_share > max_ngram:
        return REJECT_REPETITIVE
    if scores.known_word_share < min_known:
        return REJECT_UNKNOWN_WORDS
    return None
