"""Splitting text into words: whitespace-separated, punctuation and symbols stripped from the
ends. Shared by the story quality gates, the lexicon and the automatic judge."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


@lru_cache(maxsize=1 << 20)
def _stripped(token: str) -> str:
    """`token` without punctuation and symbols at its ends (cached: stories reuse their
    words, and this runs for every word of every story a gate or a judge reads)."""
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    return token[start:end]


def words(text: str) -> list[str]:
    """Whitespace-separated words with surrounding punctuation removed (empty ones dropped)."""
    return [word for word in map(_stripped, text.split()) if word]
