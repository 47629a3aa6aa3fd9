"""Splitting text into words: whitespace-separated, punctuation and symbols stripped from the
ends. Shared by the story quality gates, the lexicon and the automatic judge."""

from __future__ import annotations

import unicodedata


def words(text: str) -> list[str]:
    """Whitespace-separated words with surrounding punctuation removed (empty ones dropped)."""
    out = []
    for token in text.split():
        start, end = 0, len(token)
        while start < end and unicodedata.category(token[start])[0] in "PS":
            start += 1
        while end > start and unicodedata.category(token[end - 1])[0] in "PS":
            end -= 1
        if start < end:
            out.append(token[start:end])
    return out
