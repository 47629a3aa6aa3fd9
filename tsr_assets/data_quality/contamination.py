"""Contamination: how much of the evaluation openers the training stories already contain.

An opener "appears in part" when at least one of its word n-grams (default 8 words; an opener
shorter than that is one n-gram of all its words) occurs in some training story, and "in full"
when all of them do. Words are compared as the near-duplicate finder cuts them
(`near_duplicates.story_words`: NFC, case-folded, punctuation removed). The scan looks up an
n-gram only where a story's word starts one of the openers' n-grams, so it reads the corpus
once at about the speed of splitting it into words.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tsr_assets.data_quality.near_duplicates import story_words

DEFAULT_NGRAM = 8


@dataclass(frozen=True)
class OpenerOverlap:
    """One opener's overlap with the training stories."""

    index: int
    opener: str
    ngrams: int
    ngrams_found: int
    stories_matched: int

    @property
    def share(self) -> float:
        """Share of the opener's n-grams found in the training stories."""
        return self.ngrams_found / self.ngrams if self.ngrams else 0.0

    @property
    def in_full(self) -> bool:
        """Every n-gram of the opener occurs in the training stories."""
        return self.ngrams > 0 and self.ngrams_found == self.ngrams

    @property
    def in_part(self) -> bool:
        """At least one n-gram of the opener occurs in the training stories."""
        return self.ngrams_found > 0


def opener_ngrams(opener: str, n: int = DEFAULT_NGRAM) -> list[tuple[str, ...]]:
    """The opener's word n-grams (one n-gram of all its words when it is shorter than n)."""
    words = story_words(opener)
    if not words:
        return []
    if len(words) < n:
        return [tuple(words)]
    return [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]


def measure_contamination(openers: Sequence[str], stories: Iterable[str],
                          n: int = DEFAULT_NGRAM) -> list[OpenerOverlap]:
    """Overlap of every opener with `stories` (streamed once)."""
    grams = [opener_ngrams(o, n) for o in openers]
    by_length: dict[int, set[tuple[str, ...]]] = {}
    for opener_grams in grams:
        for gram in opener_grams:
            by_length.setdefault(len(gram), set()).add(gram)
    first_words = {gram[0] for grams_ in by_length.values() for gram in grams_}
    found: set[tuple[str, ...]] = set()
    stories_with: dict[tuple[str, ...], int] = {}
    for story in stories:
        words = story_words(story)
        in_story: set[tuple[str, ...]] = set()
        for i, word in enumerate(words):
            if word not in first_words:
                continue
            for length, wanted in by_length.items():
                gram = tuple(words[i:i + length])
                if gram in wanted:
                    in_story.add(gram)
        found |= in_story
        for gram in in_story:
            stories_with[gram] = stories_with.get(gram, 0) + 1
    return [OpenerOverlap(index, opener, len(opener_grams),
                          sum(1 for g in opener_grams if g in found),
                          max((stories_with.get(g, 0) for g in opener_grams), default=0))
            for index, (opener, opener_grams) in enumerate(zip(openers, grams, strict=True))]
